// npx tsx bench/nbd-server.ts — the NBD export server's throughput: `nbdcopy` of a 1 GiB disk
// (1 GiB of random data, qcow2) over TLS through the server (relay to a qemu-nbd backend on a
// Unix socket) against a local `qemu-img convert -O raw` of the same image. Issue 14 target: the
// NBD copy reaches at least 0.8 of the local conversion's throughput. Best of BENCH_ROUNDS (3).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NbdServer } from '../src/manager/nbd/server.js';
import { ensureSelfSignedCert } from '../src/manager/tls.js';
import { runChecked } from '../src/shared/exec.js';

const GiB = 1024 ** 3;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SIZE_MIB = Number(process.env.BENCH_SIZE_MIB ?? 1024);
const dir = mkdtempSync(join(tmpdir(), 'berth-bench-nbd-'));
const NAME = '/3f1f6a8e-58f8-4f55-9b8e-6c1b5f0e9a01?session_id=OpaqueRef:bench';
let qemuNbd: ChildProcess | undefined;
let server: NbdServer | undefined;

async function timed(f: () => Promise<unknown>): Promise<number> {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = process.hrtime.bigint();
    await f();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return best;
}

async function main() {
  const raw = join(dir, 'src.raw');
  const image = join(dir, 'src.qcow2');
  await runChecked('dd', ['if=/dev/urandom', `of=${raw}`, 'bs=1M', `count=${SIZE_MIB}`, 'status=none'], {
    timeoutMs: 600_000,
  });
  await runChecked('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, image], { timeoutMs: 600_000 });
  rmSync(raw);
  const sock = join(dir, 'backend.sock');
  qemuNbd = spawn(
    'qemu-nbd',
    [
      '--read-only',
      '--persistent',
      '--shared=16',
      `--socket=${sock}`,
      '--export-name=disk',
      '-f',
      'qcow2',
      image,
    ],
    { stdio: 'inherit' },
  );
  for (let i = 0; i < 400 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 25));
  await ensureSelfSignedCert(join(dir, 'c.pem'), join(dir, 'k.pem'), 'bench-host', '127.0.0.1');
  mkdirSync(join(dir, 'ca'));
  copyFileSync(join(dir, 'c.pem'), join(dir, 'ca', 'ca-cert.pem'));
  server = new NbdServer({
    mode: () => ({ kind: process.env.BENCH_TLS === '0' ? 'plain' : 'tls' }),
    tls: { cert: readFileSync(join(dir, 'c.pem')), key: readFileSync(join(dir, 'k.pem')) },
    authorize: () => ({ vdi: 'OpaqueRef:bench', readOnly: true }),
    openBackend: async () => ({ socketPath: sock, exportName: 'disk', close: () => {} }),
  });
  const port = await server.listen(0, '127.0.0.1');
  const tlsOn = process.env.BENCH_TLS !== '0';
  const uri = `${tlsOn ? 'nbds' : 'nbd'}://127.0.0.1:${port}/${encodeURIComponent(NAME).replace(/%2F/g, '/')}${tlsOn ? `?tls-certificates=${join(dir, 'ca')}` : ''}`;
  const out = join(dir, 'out.raw');
  const local = await timed(() =>
    runChecked('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', image, out], { timeoutMs: 600_000 }),
  );
  rmSync(out, { force: true });
  if (process.env.BENCH_DIRECT === '1') {
    const direct = await timed(() =>
      runChecked('nbdcopy', [`nbd+unix:///disk?socket=${sock}`, out], { timeoutMs: 600_000 }),
    );
    console.log(`nbdcopy straight from qemu-nbd : ${direct.toFixed(2)} s`);
  }
  const nbd = await timed(() => runChecked('nbdcopy', [uri, out], { timeoutMs: 600_000 }));
  await runChecked('qemu-img', ['compare', '-f', 'qcow2', '-F', 'raw', image, out], { timeoutMs: 600_000 });
  const bytes = SIZE_MIB * 1024 * 1024;
  const mbs = (s: number) => (bytes / s / 1e6).toFixed(0);
  console.log(`disk: ${SIZE_MIB} MiB of random data (qcow2), best of ${ROUNDS}`);
  console.log(`local qemu-img convert -O raw : ${local.toFixed(2)} s  ${mbs(local)} MB/s`);
  console.log(`nbdcopy over TLS (relay)      : ${nbd.toFixed(2)} s  ${mbs(nbd)} MB/s`);
  console.log(`ratio (target >= 0.8)         : ${(local / nbd).toFixed(2)}  (${bytes / GiB} GiB)`);
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(async () => {
    await server?.close();
    qemuNbd?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
