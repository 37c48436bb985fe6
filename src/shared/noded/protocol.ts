// The host-agent RPC, modelled on Ganeti's node daemon: `POST /<procedure>` whose body is a JSON
// array of positional arguments; the reply is `[true, payload]` or `[false, message]`. A XenAPI
// error travels as `[false, {"xenapi": [code, ...params]}]` so the manager can re-raise it.
// The push channel `POST /events_watch` answers with newline-delimited JSON instance events.
import { isXenApiError, XenApiError } from '../errors.js';
import { jsonTooDeep, MAX_JSON_DEPTH } from '../wire/json-depth.js';

/** Version of the agent RPC protocol (bumped on incompatible changes). */
export const PROTOCOL_VERSION = 1;

export type Reply = [true, unknown] | [false, unknown];

export const PROCEDURE_RE = /^[a-z][a-z0-9_]{0,63}$/;

/** The streaming procedure (not in the procedure table). */
export const EVENTS_WATCH = 'events_watch';

export function okReply(payload: unknown): string {
  return JSON.stringify([true, payload === undefined ? null : payload]);
}

export function errorReply(e: unknown): string {
  if (isXenApiError(e)) return JSON.stringify([false, { xenapi: e.description }]);
  return JSON.stringify([false, e instanceof Error ? e.message : String(e)]);
}

/**
 * Parses a request body into positional arguments (an empty body is no arguments). RequestError
 * for anything else: not JSON, not an array, or nested deeper than any procedure takes.
 */
export function parseArgs(body: string): unknown[] {
  if (body.trim() === '') return [];
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch (e) {
    throw new RequestError(`arguments are not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(v)) throw new RequestError('arguments must be a JSON array');
  if (jsonTooDeep(v)) throw new RequestError(`arguments nested more than ${MAX_JSON_DEPTH} levels deep`);
  return v;
}

/** The error a failed reply's payload stands for: its XenApiError, else an AgentError. */
export function replyError(procedure: string, payload: unknown): Error {
  const x = payload && typeof payload === 'object' ? (payload as { xenapi?: unknown }).xenapi : undefined;
  if (Array.isArray(x) && x.length > 0) return new XenApiError(String(x[0]), x.slice(1).map(String));
  const text =
    typeof payload === 'string'
      ? payload || 'No error information'
      : JSON.stringify(payload ?? 'No error information');
  return new AgentError(procedure, text);
}

/** Decodes a reply body; throws the error for `[false, …]` and for malformed replies. */
export function decodeReply(procedure: string, body: string): unknown {
  let reply: unknown;
  try {
    reply = JSON.parse(body);
  } catch {
    throw new AgentError(
      procedure,
      `RPC layer error: unparsable reply ${JSON.stringify(body.slice(0, 200))}`,
    );
  }
  if (!Array.isArray(reply) || reply.length !== 2 || typeof reply[0] !== 'boolean')
    throw new AgentError(procedure, 'RPC layer error: invalid result type/length');
  if (jsonTooDeep(reply[1])) throw new AgentError(procedure, 'RPC layer error: reply nested too deeply');
  if (reply[0]) return reply[1];
  throw replyError(procedure, reply[1]);
}

/** A request body the agent cannot take (not JSON, not an argument list, nested too deeply). */
export class RequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RequestError';
  }
}

/** A failure reported by the agent (or its transport) that is not a XenAPI error. */
export class AgentError extends Error {
  constructor(
    readonly procedure: string,
    message: string,
  ) {
    super(`agent ${procedure}: ${message}`);
    this.name = 'AgentError';
  }
}
