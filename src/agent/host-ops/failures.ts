// The two ways a host operation fails (src/shared/host/host-ops.ts): a refused argument, or a
// procedure that ran and failed with Ganeti's message.
import { XenApiError } from '../../shared/errors.js';

/** INVALID_VALUE [name, value]: the value quoted and cut, so hostile input cannot flood a log. */
export const invalid = (name: string, v: unknown) =>
  new XenApiError('INVALID_VALUE', [name, (JSON.stringify(v) ?? 'undefined').slice(0, 200)]);

/** NODE_PROCEDURE_FAILED [procedure, message]. */
export const failed = (procedure: string, message: string) =>
  new XenApiError('NODE_PROCEDURE_FAILED', [procedure, message]);

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
