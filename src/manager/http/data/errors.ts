// What a data-plane handler throws to choose the HTTP status itself (xapi's handlers answer
// 400 for a request missing what they need, 404 for an unknown format, ...). The task is
// failed with `error` (INTERNAL_ERROR naming the status when absent).
import { XenApiError } from '../../../shared/errors.js';

export type DataStatus = 400 | 403 | 404 | 500;

export class HttpStatusError extends Error {
  readonly error: XenApiError;
  constructor(
    readonly status: DataStatus,
    error?: XenApiError,
  ) {
    super(error?.message ?? `HTTP ${status}`);
    this.error = error ?? new XenApiError('INTERNAL_ERROR', [`HTTP ${status}`]);
  }
}

/** 400 Bad Request, the task failed with `error`. */
export const badRequest = (error?: XenApiError) => new HttpStatusError(400, error);
/** 404 Not Found (headers only), the task failed with `error`. */
export const notFound = (error?: XenApiError) => new HttpStatusError(404, error);

/** Authentication failed: 401 with `WWW-Authenticate`. */
export class Unauthorised extends Error {}
