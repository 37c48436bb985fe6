// npx tsx bench/data-plane/nbd.ts — issue 14's NBD figure through the running product: a real
// agent and an in-process Manager whose own NBD server (Manager.listen, --nbd-port) serves a 4 GiB
// VDI holding 1 GiB of random data (the rest zeros, unallocated) over TLS to `nbdcopy`, against a
// local `qemu-img convert -O raw` of the same image (target: ≥ 0.8 of its throughput). An extra
// row: nbdcopy straight from the agent's qemu-storage-daemon socket (no Berth server in the way),
// which bounds what any relay can reach on this machine. Best of BENCH_ROUNDS (default 2);
// BENCH_NBD_TLS=0: plain NBD (purpose insecure_nbd) to see what TLS costs.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseConfig } from '../../src/manager/config.js';
import { Manager } from '../../src/manager/manager.js';
import { volumePath } from '../../src/shared/host/volume-path.js';
import { runChecked } from '../../src/shared/exec.js';
import { startAgentIn } from '../../test/helpers/test-agent.js';
import type { Row } from '../data-plane-row.js';
import { vdiRecord } from '../../test/helpers/records.js';

const GiB = 1024 ** 3;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const SIZE = Number(process.env.BENCH_NBD_SIZE_GIB ?? 4) * GiB;
const DATA_MIB = Number(process.env.BENCH_NBD_DATA_MIB ?? 1024);
const LONG = { timeoutMs: 1_800_000 };

async function best(f: () => Promise<unknown>): Promise<number> {
  let t = Number.POSITIVE_INFINITY;
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = process.hrtime.bigint();
    await f();
    t = Math.min(t, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return t;
}

export async function run(): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-nbdwire-'));
  const dataDir = join(dir, 'data');
  const agent = await startAgentIn(join(dir, 'agent'), { stateRoot: dataDir });
  let manager: Manager | undefined;
  try {
    const config = parseConfig(
      [
        ...['--data-dir', dataDir, '--listen', '127.0.0.1', '--http-port', 'off', '--https-port', 'off'],
        ...['--socket', join(dir, 'xapi.sock'), '--nbd-port', '0'],
      ],
      {},
    );
    manager = await Manager.open(config, { timers: false, networking: false, agent: agent.client });
    const { nbdPort } = await manager.listen();
    if (!nbdPort) throw new Error('the NBD server did not start');
    const { svc, db } = manager;
    const session = svc.sessions.localLogin('bench-nbd');
    const call = (wire: string, ...args: unknown[]) =>
      svc.call(svc.sessions.validate(session), wire, args) as Promise<any>;

    // The disk: 1 GiB of random data at its start, zeros after.
    const sr = String(db.get('pool', svc.poolRef())!.default_SR);
    const vdi = await call('VDI.create', vdiRecord(sr, SIZE, { name_label: '' }));
    const v = db.mustGet('VDI', vdi);
    const pbd = [...db.all('PBD').values()].find((p) => p.SR === sr)!;
    const s = db.mustGet('SR', sr);
    const image = volumePath(
      String(s.type),
      String(s.uuid),
      pbd.device_config as Record<string, string>,
      String(v.location),
    )!;
    const random = join(dir, 'random.raw');
    await runChecked(
      'dd',
      ['if=/dev/urandom', `of=${random}`, 'bs=1M', `count=${DATA_MIB}`, 'status=none'],
      LONG,
    );
    await runChecked('truncate', ['-s', String(SIZE), random]);
    await runChecked(
      'qemu-img',
      ['convert', '-n', '-f', 'raw', '-O', image.format, random, image.path],
      LONG,
    );
    rmSync(random);

    // NBD on: a network with purpose nbd and this host's PIF on it.
    const net = await call('network.create', {
      name_label: 'bench-nbd',
      name_description: '',
      MTU: 1500,
      other_config: {},
      bridge: '',
    });
    db.create('PIF', {
      device: 'benchnbd0',
      network: net,
      host: svc.hostRef(),
      MAC: '02:00:00:00:0b:f0',
      MTU: 1500,
      VLAN: -1,
      IP: '127.0.0.1',
      IPv6: [],
      currently_attached: true,
    });
    const tls = process.env.BENCH_NBD_TLS !== '0'; // 0: purpose insecure_nbd, plain NBD
    await call('network.add_purpose', net, tls ? 'nbd' : 'insecure_nbd');
    const [info] = (await call('VDI.get_nbd_info', vdi)) as { exportname: string; port: number }[];
    const ca = join(dir, 'ca');
    mkdirSync(ca);
    copyFileSync(config.tlsCert, join(ca, 'ca-cert.pem'));
    const name = encodeURIComponent(info.exportname).replace(/%2F/g, '/');
    const uri = tls
      ? `nbds://127.0.0.1:${info.port}/${name}?tls-certificates=${ca}`
      : `nbd://127.0.0.1:${info.port}/${name}`;

    const out = join(dir, 'out.raw');
    const fresh = () => rmSync(out, { force: true });
    const local = await best(async () => {
      fresh();
      await runChecked('qemu-img', ['convert', '-f', image.format, '-O', 'raw', image.path, out], LONG);
    });
    // The manager's CPU (this process: relay, TLS) over the NBD rounds, against their wall time.
    const cpu0 = process.cpuUsage();
    const wall0 = process.hrtime.bigint();
    const nbd = await best(async () => {
      fresh();
      await runChecked('nbdcopy', [uri, out], LONG);
    });
    const cpu = process.cpuUsage(cpu0);
    const cpuSec = (cpu.user + cpu.system) / 1e6;
    const wallSec = Number(process.hrtime.bigint() - wall0) / 1e9;
    await runChecked('qemu-img', ['compare', '-f', image.format, '-F', 'raw', image.path, out], LONG);
    // The same copy straight from the agent's export socket: what this machine allows at all.
    const host = svc.hosts.local();
    const x = await host.blockdev_nbd_open(
      {
        uuid: String(s.uuid),
        type: String(s.type),
        deviceConfig: pbd.device_config as Record<string, string>,
      },
      String(v.location),
      { readOnly: true },
    );
    const direct = await best(async () => {
      fresh();
      await runChecked('nbdcopy', [`nbd+unix:///${x.exportName}?socket=${x.socket}`, out], LONG);
    });
    await host.blockdev_nbd_close(x.id);
    fresh();

    const mbs = (sec: number) => SIZE / sec / 1e6;
    const label = `${SIZE / GiB} GiB disk, ${DATA_MIB} MiB data`;
    return [
      {
        name: `nbdcopy over ${tls ? 'TLS' : 'plain'} NBD (Manager's server) vs local qemu-img convert, ${label}`,
        berth: mbs(nbd),
        peer: mbs(local),
        ratio: local / nbd,
        target: '>= 0.8',
        unit: 'MB/s',
      },
      {
        name: 'manager process CPU during the NBD copies (relay + TLS) vs their wall time',
        berth: cpuSec,
        peer: wallSec,
        ratio: cpuSec / wallSec,
        target: '(reference)',
        unit: 's',
      },
      {
        name: `bound: nbdcopy from the agent's qemu-storage-daemon socket (no Berth) vs local convert`,
        berth: mbs(direct),
        peer: mbs(local),
        ratio: local / direct,
        target: '(reference)',
        unit: 'MB/s',
      },
    ];
  } finally {
    await manager?.close();
    agent.client.close();
    await agent.agent.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  run()
    .then((rows) => {
      for (const r of rows)
        console.log(
          `${r.name}: Berth ${r.berth.toFixed(0)} ${r.unit}, peer ${r.peer?.toFixed(0)} ${r.unit}, ratio ${r.ratio?.toFixed(2)} (target ${r.target})`,
        );
    })
    .catch((e) => {
      console.error(e);
      process.exitCode = 1;
    });
