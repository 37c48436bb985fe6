// The host-agent RPC, modelled on Ganeti's node daemon: `POST /<procedure>` whose body is a JSON
// array of positional arguments; the reply is `[true, payload]` or `[false, message]`. A XenAPI
// error travels as `[false, {"xenapi": [code, ...params]}]` so the manager can re-raise it.
import { isXenApiError } from '../errors.js';

export type Reply = [true, unknown] | [false, unknown];

export const PROCEDURE_RE = /^[a-z][a-z0-9_]{0,63}$/;

export function okReply(payload: unknown): string {
  return JSON.stringify([true, payload === undefined ? null : payload]);
}

export function errorReply(e: unknown): string {
  if (isXenApiError(e)) return JSON.stringify([false, { xenapi: e.description }]);
  return JSON.stringify([false, e instanceof Error ? e.message : String(e)]);
}

/** Parses a request body into positional arguments (an empty body is no arguments). */
export function parseArgs(body: string): unknown[] {
  if (body.trim() === '') return [];
  const v = JSON.parse(body);
  if (!Array.isArray(v)) throw new Error('arguments must be a JSON array');
  return v;
}
