// run_oob (ganeti-noded.md §2): Ganeti's out-of-band interface. `<program> <command> <node>` for an
// allow-listed program and one of the OOB commands; stdout is JSON (empty: null). The node name is
// an argument, never a shell word.
import { OOB_COMMANDS, type OobCommand } from '../../shared/host/host-ops.js';
import { runConfined } from './confined-run.js';
import { validHostName } from './etc-hosts.js';
import { failed, invalid } from './failures.js';
import type { HostOpsConfig } from './options.js';
import { normalPath } from './paths.js';

const MAX_TIMEOUT_SEC = 3600;

export async function runOob(
  cfg: HostOpsConfig,
  program: unknown,
  command: unknown,
  node: unknown,
  timeout: unknown,
): Promise<unknown> {
  const p = normalPath(program);
  if (p === null || !cfg.oobPrograms.includes(p)) throw invalid('program', program);
  if (!OOB_COMMANDS.includes(command as OobCommand)) throw invalid('command', command);
  if (!validHostName(node)) throw invalid('node', node);
  if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout <= 0 || timeout > MAX_TIMEOUT_SEC)
    throw invalid('timeout', timeout);
  let r: Awaited<ReturnType<typeof runConfined>>;
  try {
    r = await runConfined(p, [command as string, node], {
      env: { PATH: '/sbin:/bin:/usr/sbin:/usr/bin' },
      timeoutMs: timeout * 1000,
      maxOutputBytes: 1024 * 1024,
    });
  } catch (e) {
    throw failed('run_oob', `OOB program '${p}' could not run: ${String((e as Error).message ?? e)}`);
  }
  const output = r.output.slice(0, 4000);
  if (r.timedOut)
    throw failed('run_oob', `OOB program '${p}' failed: timed out after ${timeout} s; output: ${output}`);
  if (r.code !== 0)
    throw failed(
      'run_oob',
      `OOB program '${p}' failed: exited with status ${r.code ?? r.signal}; output: ${output}`,
    );
  if (r.stdout.trim() === '') return null;
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw failed('run_oob', `OOB program '${p}' returned invalid JSON: ${r.stdout.slice(0, 200)}`);
  }
}
