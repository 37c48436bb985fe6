// Storage failures in xapi's shape: SR_BACKEND_FAILURE [status, stdout, stderr].
import { XenApiError } from '../../shared/errors.js';

export const backendFailure = (status: string, detail: string, stdout = '') =>
  new XenApiError('SR_BACKEND_FAILURE', [status, stdout, detail]);

/** Runs `fn`, turning a command failure (plain Error) into SR_BACKEND_FAILURE [status, "", message]. */
export async function asBackendFailure<T>(status: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof XenApiError) throw e;
    throw backendFailure(status, e instanceof Error ? e.message : String(e));
  }
}

/** The filesystem or volume group ran out of space: ENOSPC from Node, or a tool's text for it. */
export function isNoSpace(e: unknown): boolean {
  if ((e as NodeJS.ErrnoException)?.code === 'ENOSPC') return true;
  const text =
    e instanceof XenApiError && e.code === 'SR_BACKEND_FAILURE'
      ? e.params.join('\n')
      : e instanceof Error
        ? e.message
        : '';
  return /No space left on device|Insufficient free space/.test(text);
}

/**
 * Runs storage work that needs `needed` bytes; running out of space meanwhile (another writer
 * filled the SR after the check) is xapi's SR_FULL [requested, available now], not the tool's text.
 */
export async function noSpaceIsFull<T>(
  needed: number,
  available: () => Promise<number>,
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (!isNoSpace(e)) throw e;
    const free = await available().catch(() => 0);
    throw new XenApiError('SR_FULL', [String(needed), String(free)]);
  }
}
