// The agent's native helper, berth-fdpass (src/agent/native/berth-fdpass.c): Node can neither
// ioctl(TUNSETIFF) a TAP nor send a descriptor over a Unix socket (SCM_RIGHTS), and QEMU running
// unprivileged must be handed its TAPs and its suspend file as descriptors. The binary is built
// from the C source with `cc` (scripts/install-deps.sh does it at setup; the agent builds it on
// first use where that did not happen), named after the source's hash so a changed source is
// never served by a stale binary, and kept in the checkout's .cache/native (root's).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runChecked } from '../../shared/exec.js';

/** The checkout this module runs from (src/ under tsx, dist/src/ when built). */
function checkoutRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'src/agent/native/berth-fdpass.c'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('berth-fdpass.c not found above the agent module');
    dir = up;
  }
}

/** Where the binary for `source` lives (pure): `<root>/.cache/native/berth-fdpass-<hash>`. */
export function binaryPath(root: string, source: Buffer): string {
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  return join(root, '.cache/native', `berth-fdpass-${hash}`);
}

let built: Promise<string> | undefined;

/** The helper's path, building it first if needed (BERTH_FDPASS names a prebuilt one). */
export function fdpassBinary(): Promise<string> {
  if (process.env.BERTH_FDPASS) return Promise.resolve(process.env.BERTH_FDPASS);
  built ??= (async () => {
    const root = checkoutRoot();
    const src = join(root, 'src/agent/native/berth-fdpass.c');
    const bin = binaryPath(root, readFileSync(src));
    if (existsSync(bin)) return bin;
    mkdirSync(dirname(bin), { recursive: true, mode: 0o755 });
    // Built under a private name, then renamed: parallel builders never see half a binary.
    const tmp = `${bin}.${process.pid}.tmp`;
    try {
      await runChecked('cc', ['-O2', '-Wall', '-o', tmp, src]);
      chmodSync(tmp, 0o755);
      renameSync(tmp, bin);
    } catch (e) {
      rmSync(tmp, { force: true });
      const why = e instanceof Error ? e.message : String(e);
      throw new Error(`building berth-fdpass with cc failed (scripts/install-deps.sh installs cc): ${why}`);
    }
    return bin;
  })();
  built.catch(() => {
    built = undefined; // a later call tries again
  });
  return built;
}

/** QMP's reply to the command berth-fdpass sent after passing the descriptor. */
export class FdpassQmpError extends Error {}

/**
 * Passes a descriptor to QEMU over its fd-passing monitor (`getfd` as `fdName`) and sends
 * `command` on the same monitor: the TAP `tap` (opened by the helper), or the open file `fd`.
 * Resolves QMP's `return` value; a QMP `error` rejects with FdpassQmpError carrying its desc.
 */
export async function passFd(
  socket: string,
  fdName: string,
  command: { execute: string; arguments?: Record<string, unknown> },
  what: { tap: string } | { fd: number },
  timeoutMs = 30_000,
): Promise<unknown> {
  const bin = await fdpassBinary();
  const args = ['qmp', socket, fdName, JSON.stringify(command)];
  if ('tap' in what) args.push('--tap', what.tap);
  const stdio: ('ignore' | 'pipe' | number)[] = ['ignore', 'pipe', 'pipe'];
  if ('fd' in what) stdio[3] = what.fd;
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { stdio });
    let out = '';
    let err = '';
    child.stdout?.on('data', (d) => {
      out += d;
    });
    child.stderr?.on('data', (d) => {
      err += d;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let reply: { return?: unknown; error?: { class?: string; desc?: string } } | undefined;
      try {
        reply = JSON.parse(out.trim().split('\n').pop() ?? '');
      } catch {
        reply = undefined;
      }
      if (code === 0 && reply && 'return' in reply) return resolve(reply.return);
      if (code === 2 && reply?.error)
        return reject(new FdpassQmpError(`${reply.error.class ?? 'Error'}: ${reply.error.desc ?? ''}`));
      reject(
        new Error(
          `berth-fdpass ${signal ? `killed (${signal})` : `exit ${code}`}: ${err.trim() || out.trim()}`,
        ),
      );
    });
  });
}

/** Copies the device node `path` into the private /dev of process `pid` (berth-fdpass devnode). */
export async function makeDevNode(pid: number, path: string): Promise<void> {
  const bin = await fdpassBinary();
  try {
    await runChecked(bin, ['devnode', String(pid), path], { timeoutMs: 10_000 });
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new Error(`cannot give QEMU ${path}: ${why}`);
  }
}
