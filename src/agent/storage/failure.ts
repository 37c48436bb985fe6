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
