// iallocator_runner (src/shared/host/hooks.ts): an allow-listed allocator of the agent's
// iallocator directory, run as Ganeti runs one (ganeti-noded.md §9): its request written to a
// temp file `berth-iallocator.*` given as its only argument, its stdout the answer. Refusals and
// failures are IALLOCATOR_FAILED [name, why, output tail].
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XenApiError } from '../../shared/errors.js';
import { HOOK_OUTPUT_MAX, IALLOCATOR_OUTPUT_MAX } from '../../shared/host/hooks.js';
import { runScript } from './run-script.js';
import { HOOK_PATH_ENV, skipReason, unsafeReason } from './runner.js';

const failed = (name: string, why: string, output = '') =>
  new XenApiError('IALLOCATOR_FAILED', [name, why, output.slice(-HOOK_OUTPUT_MAX)]);

export async function runIallocator(
  dir: string,
  name: string,
  input: string,
  timeoutMs: number,
): Promise<string> {
  const why = skipReason(dir, name);
  if (why) throw failed(name, why === 'not executable' ? 'not found or not executable' : why);
  const unsafe = unsafeReason(dir) || unsafeReason(join(dir, name));
  if (unsafe) throw failed(name, `refused: ${unsafe}`);
  const tmp = mkdtempSync(join(tmpdir(), 'berth-iallocator.'));
  try {
    const file = join(tmp, 'input.json');
    writeFileSync(file, input, { mode: 0o600 });
    const r = await runScript(join(dir, name), [file], {
      env: { PATH: HOOK_PATH_ENV },
      timeoutMs,
      maxOutput: IALLOCATOR_OUTPUT_MAX,
      mergeStderr: false,
    });
    if (r.startError) throw failed(name, `cannot run: ${r.startError}`);
    if (r.timedOut) throw failed(name, `killed after ${timeoutMs} ms (time limit)`, r.stderr);
    if (r.code !== 0) throw failed(name, `exited ${r.code}`, r.stderr || r.output);
    if (r.truncated) throw failed(name, `answer larger than ${IALLOCATOR_OUTPUT_MAX} bytes`);
    return r.output;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
