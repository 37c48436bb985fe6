// npm run bench:vm-start — VM start latency on one test guest, side by side, medians over
// BENCH_RUNS runs (default 5):
//   1. raw `qemu-system-x86_64`: exec → the guest's boot marker on its serial console;
//   2. the agent's instance_start: until the call returns, and until the marker;
//   3. Berth's XenAPI VM.start (agent and manager as processes, a VM installed from the default
//      template): until the call returns, and until the marker;
//   4. libvirt's `virsh create` of an equivalent <domain type='qemu'> (same kernel, initrd,
//      command line, memory, vCPU, CPU model, q35): until virsh returns, and until the marker.
// libvirt is installed for the benchmark only when missing (apt-get), its daemons started here
// when not running and stopped again; it never defines networks. BENCH_LIBVIRT=0 skips it.
// Berth's column runs twice, start by start alternately: this tree and a baseline build of the
// revision before the issue-12 work (bench/baseline.ts, BENCH_BASELINE; `none` skips it).
// BENCH_COLUMNS=berth BENCH_MARKER=0 measures only VM.start's return, old against new (~1 min).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { detectAccel } from '../src/agent/qemu/accel.js';
import { qemuArgs, runtimePaths } from '../src/agent/qemu/command-line.js';
import { XenApiClient } from '../src/clients/sdk/client.js';
import { AgentClient } from '../src/shared/noded/client.js';
import type { InstanceSpec } from '../src/shared/noded/instance.js';
import { type Baseline, prepareBaseline } from './baseline.js';
import { localManagerArgs } from '../test/helpers/manager-args.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const GUEST = process.env.BERTH_TEST_GUEST_DIR ?? join(ROOT, '.cache/guest');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
/** Which columns to run: raw, agent, berth (this tree and the baseline), libvirt. */
const COLUMNS = new Set((process.env.BENCH_COLUMNS ?? 'raw,agent,berth,libvirt').split(','));
/** BENCH_MARKER=0: Berth's columns measure only VM.start's return (no wait for the guest's boot). */
const WAIT_MARKER = process.env.BENCH_MARKER !== '0';
const CMDLINE = 'console=ttyS0 quiet';
const MiB = 1024 * 1024;
const accel = detectAccel();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const node = (script: string, args: string[], env: Record<string, string> = {}) =>
  spawn(
    process.execPath,
    ['--import', 'tsx', script.startsWith('/') ? script : join(ROOT, script), ...args],
    {
      stdio: ['ignore', 'ignore', 'ignore'],
      env: { ...process.env, BERTH_LOG_LEVEL: 'warn', ...env },
    },
  );

interface Column {
  returns: number[];
  marker: number[];
  note?: string;
}

async function waitMarker(log: string, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(existsSync(log) && readFileSync(log, 'utf8').includes('BERTH-GUEST-READY'))) {
    if (Date.now() > deadline) throw new Error(`no boot marker in ${log}`);
    await sleep(5);
  }
}

async function until(what: string, pred: () => boolean | Promise<boolean>, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function spec(i: number): InstanceSpec {
  return {
    uuid: `be000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    name: `bench-${i}`,
    vcpus: 1,
    vcpusMax: 1,
    memoryBytes: 256 * MiB,
    memoryMaxBytes: 256 * MiB,
    kernel: join(GUEST, 'vmlinuz'),
    initrd: join(GUEST, 'initrd.img'),
    cmdline: CMDLINE,
    disks: [],
    nics: [],
    balloon: false,
    startPaused: false,
  };
}

/** SIGKILLs QEMUs left under a runtime dir (by their pid files) after a failure. */
function killLeftovers(runDir: string) {
  if (!existsSync(runDir)) return;
  for (const d of readdirSync(runDir)) {
    try {
      const pid = Number(readFileSync(join(runDir, d, 'qemu.pid'), 'utf8'));
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(d)) process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

async function rawQemu(dir: string): Promise<Column> {
  const col: Column = { returns: [], marker: [] };
  for (let i = 0; i < RUNS; i++) {
    const p = runtimePaths(join(dir, 'raw'), join(dir, 'raw-log'), spec(i).uuid);
    mkdirSync(p.dir, { recursive: true });
    mkdirSync(join(dir, 'raw-log'), { recursive: true });
    const args = qemuArgs(spec(i), p, { accel }).filter((a) => a !== '-S');
    const t0 = performance.now();
    const q = spawn('qemu-system-x86_64', args, { stdio: 'ignore' });
    try {
      await waitMarker(p.consoleLog);
      col.marker.push(performance.now() - t0);
    } finally {
      q.kill('SIGKILL');
    }
  }
  return col;
}

async function agentStart(dir: string): Promise<Column> {
  const col: Column = { returns: [], marker: [] };
  const socket = join(dir, 'agent.sock');
  const runDir = join(dir, 'run');
  const agent = node('src/agent/main.ts', [
    '--socket',
    socket,
    '--run-dir',
    runDir,
    '--log-dir',
    join(dir, 'log'),
    '--state-root',
    dir,
    '--run-as',
    'root',
  ]);
  try {
    await until('agent socket', () => existsSync(socket));
    const client = new AgentClient(socket);
    for (let i = 0; i < RUNS; i++) {
      const s = spec(100 + i);
      const t0 = performance.now();
      const info = await client.start(s);
      col.returns.push(performance.now() - t0);
      await waitMarker(info.consoleLog!);
      col.marker.push(performance.now() - t0);
      await client.shutdown(s.uuid, false, 10_000);
    }
    client.close();
  } finally {
    agent.kill('SIGTERM');
    killLeftovers(runDir);
  }
  return col;
}

interface BerthStack {
  /** One VM.start: until it returns, and (unless BENCH_MARKER=0) until the guest's marker. */
  startOnce(): Promise<{ returns: number; marker?: number }>;
  close(): Promise<void>;
}

/**
 * Berth as deployed, from the tree at `root` (this checkout or the baseline): agent and manager
 * processes, a VM installed from the default template like `xe vm-install`, JSON-RPC client.
 */
async function berthStack(root: string, dir: string): Promise<BerthStack> {
  const agentSocket = join(dir, 'agent.sock');
  const runDir = join(dir, 'run');
  const logDir = join(dir, 'log');
  const port = 19300 + Math.floor(Math.random() * 500);
  const env = { BERTH_ACCEL: accel, BERTH_NETWORKING: '0' };
  const procs: ChildProcess[] = [];
  const close = async () => {
    for (const p of procs.reverse()) p.kill('SIGTERM');
    await sleep(300);
    killLeftovers(runDir);
  };
  try {
    procs.push(
      node(
        join(root, 'src/agent/main.ts'),
        // SR root: the manager's SRs (the default one is DATA/sr/default).
        [
          '--socket',
          agentSocket,
          '--run-dir',
          runDir,
          '--log-dir',
          logDir,
          '--state-root',
          dir,
          '--sr-root',
          join(dir, 'data', 'sr'),
        ],
        env,
      ),
    );
    await until('agent socket', () => existsSync(agentSocket));
    procs.push(
      node(
        join(root, 'src/manager/main.ts'),
        localManagerArgs({
          dataDir: join(dir, 'data'),
          port,
          socket: join(dir, 'xapi.sock'),
          agentSocket,
          guestDir: GUEST,
        }),
        env,
      ),
    );
    const password = join(dir, 'data', 'root-password');
    await until('manager', () => existsSync(password));
    const c = new XenApiClient({ url: `http://127.0.0.1:${port}` });
    await until('manager login', () =>
      c.login('root', readFileSync(password, 'utf8').trim()).then(
        () => true,
        () => false,
      ),
    );
    const call = (m: string, ...a: unknown[]) => (c.call as any)(m, ...a) as Promise<any>;
    // xe vm-install: clone the default template, provision, make it a VM; same kernel command
    // line as the other columns.
    const [tmpl] = await call('VM.get_by_name_label', 'Berth test guest');
    const vm = await call('VM.clone', tmpl, 'bench-vm-start');
    await call('VM.provision', vm);
    await call('VM.set_is_a_template', vm, false);
    await call('VM.set_PV_args', vm, CMDLINE);
    const uuid = await call('VM.get_uuid', vm);
    await until('agent connected', async () =>
      (await call('VM.get_allowed_operations', vm)).includes('start'),
    );
    return {
      async startOnce() {
        const log = join(logDir, `${uuid}.log`);
        rmSync(log, { force: true });
        const t0 = performance.now();
        await call('VM.start', vm, false, false);
        const returns = performance.now() - t0;
        let marker: number | undefined;
        if (WAIT_MARKER) {
          await waitMarker(log);
          marker = performance.now() - t0;
        }
        await call('VM.hard_shutdown', vm);
        return { returns, marker };
      },
      async close() {
        c.close();
        await close();
      },
    };
  } catch (e) {
    await close();
    throw e;
  }
}

/** VM.start of this tree and, when a baseline is built, of the baseline, alternating start by start. */
async function berthVmStart(dir: string, baseline: Baseline | undefined): Promise<[string, Column][]> {
  const trees: [string, string][] = [['Berth VM.start (XenAPI)', ROOT]];
  if (baseline) trees.unshift([`Berth VM.start, baseline ${baseline.rev.slice(0, 7)}`, baseline.root]);
  const stacks: BerthStack[] = [];
  const cols = trees.map(([name]) => [name, { returns: [], marker: [] }] as [string, Column]);
  try {
    for (const [i, [, root]] of trees.entries()) stacks.push(await berthStack(root, join(dir, `tree${i}`)));
    for (let run = 0; run < RUNS; run++) {
      for (const [i, stack] of stacks.entries()) {
        const r = await stack.startOnce();
        cols[i][1].returns.push(r.returns);
        if (r.marker !== undefined) cols[i][1].marker.push(r.marker);
      }
    }
  } finally {
    for (const s of stacks) await s.close();
  }
  return cols;
}

// ---------- libvirt ----------

const LIBVIRT_SOCK = '/run/libvirt/libvirt-sock';
const QEMU_CONF = '/etc/libvirt/qemu.conf';
const OUR_CONF_MARK = '# written by Berth bench/vm-start.ts';
const sh = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8', timeout: 600_000 });

/**
 * Makes libvirt usable and returns how to undo what was done here; a string says why it cannot.
 * QEMU under libvirt runs as root here: with its default user (libvirt-qemu) libvirt finds
 * /dev/kvm (0600 root) unusable on every start, throws its capability cache away and re-probes
 * QEMU for ~55 s per domain (seen in its debug log: "KVM was enabled when probing … but it is not
 * available now"). Berth's QEMU also runs as root in this comparison (--run-as root).
 */
function setUpLibvirt(): (() => void) | string {
  if (process.env.BENCH_LIBVIRT === '0') return 'skipped (BENCH_LIBVIRT=0)';
  if (!existsSync('/usr/bin/virsh') || !existsSync('/usr/sbin/libvirtd')) {
    const r = sh('apt-get', [
      'install',
      '-y',
      '--no-install-recommends',
      'libvirt-daemon',
      'libvirt-daemon-driver-qemu',
      'libvirt-clients',
    ]);
    if (r.status !== 0)
      return `could not install libvirt: ${(r.stderr || r.stdout).trim().split('\n').pop()}`;
  }
  for (const d of ['/var/log/libvirt', '/run/libvirt', '/var/lib/libvirt', '/var/cache/libvirt'])
    mkdirSync(d, { recursive: true });
  const undo: (() => void)[] = [];
  // libvirt's QEMU driver parses its built-in default user even when qemu.conf names another;
  // Debian's libvirt-daemon-system would create it, the minimal packages used here do not.
  if (sh('id', ['libvirt-qemu']).status !== 0) {
    const r = sh('useradd', [
      '--system',
      '--no-create-home',
      '--shell',
      '/usr/sbin/nologin',
      '--user-group',
      'libvirt-qemu',
    ]);
    if (r.status !== 0) return `could not create the libvirt-qemu user: ${r.stderr.trim()}`;
    undo.push(() => sh('userdel', ['libvirt-qemu']));
  }
  if (!existsSync(QEMU_CONF)) {
    writeFileSync(QEMU_CONF, `${OUR_CONF_MARK}\nuser = "root"\ngroup = "root"\n`);
    undo.push(() => rmSync(QEMU_CONF, { force: true }));
  } else if (!readFileSync(QEMU_CONF, 'utf8').includes(OUR_CONF_MARK)) {
    console.warn(`note: using the existing ${QEMU_CONF} as it is`);
  }
  for (const [daemon, pidFile, sock] of [
    ['virtlogd', '/run/berth-bench-virtlogd.pid', '/run/libvirt/virtlogd-sock'],
    ['libvirtd', '/run/berth-bench-libvirtd.pid', LIBVIRT_SOCK],
  ] as const) {
    if (existsSync(sock)) continue; // already running: leave it alone
    const r = sh(`/usr/sbin/${daemon}`, ['--daemon', '--pid-file', pidFile]);
    if (r.status !== 0) return `${daemon} did not start: ${r.stderr.trim()}`;
    undo.push(() => {
      try {
        const pid = Number(readFileSync(pidFile, 'utf8'));
        process.kill(pid, 'SIGTERM');
        for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) sh('sleep', ['0.05']);
      } catch {
        /* gone */
      }
    });
  }
  return () => {
    for (const u of undo.reverse()) u();
  };
}

function domainXml(name: string, dir: string): string {
  return `<domain type='qemu'>
  <name>${name}</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <kernel>${dir}/vmlinuz</kernel>
    <initrd>${dir}/initrd.img</initrd>
    <cmdline>${CMDLINE}</cmdline>
  </os>
  <features><acpi/></features>
  <cpu mode='maximum'/>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='file'><source path='${dir}/console.log'/><target port='0'/></serial>
    <console type='file'><source path='${dir}/console.log'/><target type='serial' port='0'/></console>
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

async function libvirtStart(dir: string): Promise<Column> {
  const col: Column = { returns: [], marker: [] };
  const ready = setUpLibvirt();
  if (typeof ready === 'string') return { ...col, note: ready };
  const lv = join(dir, 'libvirt');
  mkdirSync(lv, { recursive: true });
  chmodSync(dir, 0o755); // libvirt's QEMU opens the guest files by path
  copyFileSync(join(GUEST, 'vmlinuz'), join(lv, 'vmlinuz'));
  copyFileSync(join(GUEST, 'initrd.img'), join(lv, 'initrd.img'));
  const name = `berth-bench-${process.pid}`;
  const xml = join(lv, 'domain.xml');
  writeFileSync(xml, domainXml(name, lv));
  const virsh = (...args: string[]) => sh('virsh', ['-c', 'qemu:///system', ...args]);
  try {
    // The socket appears before the QEMU driver is ready (it may probe QEMU first).
    await until(
      'libvirt QEMU driver',
      () => existsSync(LIBVIRT_SOCK) && /Running hypervisor/.test(virsh('version').stdout ?? ''),
      180_000,
    );
    for (let i = 0; i < RUNS; i++) {
      rmSync(join(lv, 'console.log'), { force: true });
      const t0 = performance.now();
      // Asynchronous spawn: virsh's own wall time is what is measured.
      const r = await new Promise<number | null>((resolve) =>
        spawn('virsh', ['-c', 'qemu:///system', 'create', xml], { stdio: 'ignore' }).on('exit', resolve),
      );
      if (r !== 0) return { ...col, note: `virsh create failed (exit ${r})` };
      col.returns.push(performance.now() - t0);
      await waitMarker(join(lv, 'console.log'));
      col.marker.push(performance.now() - t0);
      virsh('destroy', name);
    }
  } finally {
    virsh('destroy', name);
    ready();
  }
  return col;
}

async function main() {
  spawnSync(join(ROOT, 'tools/build-guest.sh'), [GUEST], { stdio: 'inherit' });
  const baseline = COLUMNS.has('berth') ? prepareBaseline(ROOT) : undefined;
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-'));
  const cols: [string, Column][] = [];
  try {
    if (COLUMNS.has('raw')) cols.push(['raw qemu-system-x86_64', await rawQemu(join(dir, 'raw'))]);
    if (COLUMNS.has('agent')) cols.push(['agent instance_start', await agentStart(join(dir, 'agent'))]);
    if (COLUMNS.has('berth')) cols.push(...(await berthVmStart(join(dir, 'berth'), baseline)));
    if (COLUMNS.has('libvirt')) cols.push(['libvirt virsh create', await libvirtStart(join(dir, 'lv'))]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const load1 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  const s = (xs: number[]) => (xs.length ? `${(median(xs) / 1000).toFixed(3)} s` : '—');
  const ms = (xs: number[]) =>
    xs.length ? `${median(xs).toFixed(0)} ms (${xs.map((x) => x.toFixed(0)).join(', ')})` : '—';
  console.log(
    `\nbench:vm-start  ${new Date().toISOString()}  accel=${accel}  ${RUNS} runs (medians)  load average ${load} → ${load1}`,
  );
  console.log('| | returns | → boot marker |');
  console.log('|---|---|---|');
  for (const [name, c] of cols)
    console.log(`| ${name} | ${s(c.returns)} | ${s(c.marker)}${c.note ? ` (${c.note})` : ''} |`);
  const col = (name: string) => cols.find(([n]) => n === name)?.[1];
  const berth = col('Berth VM.start (XenAPI)');
  const old = cols.find(([n]) => n.startsWith('Berth VM.start, baseline'));
  if (berth) {
    console.log('');
    if (old) console.log(`VM.start returns, ${old[0].slice(16)}: ${ms(old[1].returns)}`);
    const ret = median(berth.returns);
    console.log(`VM.start returns, this tree: ${ms(berth.returns)}`);
    console.log(
      `VM.start returns in ${ret.toFixed(0)} ms (target ≤ 150 ms): ${ret <= 150 ? 'met' : 'missed'}`,
    );
  }
  const raw = col('raw qemu-system-x86_64');
  if (berth?.marker.length && raw?.marker.length) {
    const over = (median(berth.marker) / median(raw.marker) - 1) * 100;
    console.log(
      `guest marker ${over >= 0 ? '+' : ''}${over.toFixed(1)} % against raw QEMU (target ≤ 5 %): ${over <= 5 ? 'met' : 'missed'}`,
    );
  }
  const lv = col('libvirt virsh create');
  if (berth?.marker.length && lv?.marker.length)
    console.log(
      `guest marker vs libvirt: Berth ${s(berth.marker)}, libvirt ${s(lv.marker)}: ${median(berth.marker) <= median(lv.marker) ? 'met' : 'missed'}; libvirt returns in ${s(lv.returns)}`,
    );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
