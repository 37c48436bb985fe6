// The XML-RPC and JSON-RPC endpoints: parse the envelope, dispatch, encode the outcome by the
// message's result type, with xapi's exact content types and headers. Transport-level failures
// (unparsable bodies, bad envelopes) get xapi's HTTP 500 HTML page and close the connection.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Model } from '../../shared/datamodel/model-types.js';
import type { TypeDesc } from '../../shared/datamodel/types.js';
import type { ConnectionInfo, HttpReply } from '../api/context.js';
import type { RpcEndpoints } from '../http/server.js';
import {
  type DecodeContext,
  decodeJson,
  decodeXml,
  escapeXml,
  http500Body,
  jsonFailure,
  jsonSuccess,
  jsonSuccessEnvelope,
  fixDel,
  parseJsonRpcRequest,
  parseMethodCall,
  WireFormatError,
  type XmlEncodeContext,
  type XmlEncoder,
  xmlBare,
  xmlEncoder,
  xmlFailure,
  xmlSuccess,
  XML_SUCCESS_HEAD,
  XML_SUCCESS_TAIL,
  xmlUntyped,
} from '../../shared/wire/index.js';
import type { Row } from '../db/database.js';
import type { WireEvent } from '../events/event-from.js';
import type { Dispatcher, Outcome, ParamSource } from './dispatcher.js';
import { cachedJson, cachedJsonMember, cachedXml, cachedXmlMember } from './record-cache.js';

type Encoder = XmlEncoder;

const RECORD_MAP_HEAD = Buffer.from(`${XML_SUCCESS_HEAD}<value><struct>`);
const RECORD_MAP_TAIL = Buffer.from(`</struct></value>${XML_SUCCESS_TAIL}`);
const XML_SUCCESS_HEAD_BYTES = Buffer.from(XML_SUCCESS_HEAD);
const XML_SUCCESS_TAIL_BYTES = Buffer.from(XML_SUCCESS_TAIL);

const RPC_HEADERS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Allow-Headers': 'X-Requested-With',
};

/** XML encoders for every type, including the event records whose snapshot class varies. */
export class XmlEncoders {
  private readonly byType = new WeakMap<TypeDesc, Encoder>();
  private readonly classByLower = new Map<string, string>();
  private readonly recordByClass = new Map<string, Encoder>();
  /** Event batches shared by many watchers (EventService memo) are encoded once. */
  private readonly batchXml = new WeakMap<object, Buffer>();
  private readonly ctx: XmlEncodeContext;
  readonly decodeCtx: DecodeContext;

  constructor(readonly model: Model) {
    for (const c of Object.keys(model.classes)) this.classByLower.set(c.toLowerCase(), c);
    this.ctx = {
      recordFields: (cls) => model.classes[cls]?.fields ?? [],
      special: (cls) =>
        cls === 'event_batch'
          ? (v) => this.eventBatch(v)
          : cls === 'event'
            ? (v) => this.event(v)
            : undefined,
      wrapRecord: (_cls, encode) => (v) => cachedXml(v as Row, encode),
    };
    this.decodeCtx = {
      enumValues: (name) => model.enums[name],
      recordFields: (cls) => model.classes[cls]?.fields ?? [],
    };
  }

  encoder(type: TypeDesc): Encoder {
    let e = this.byType.get(type);
    if (!e) {
      e = xmlEncoder(type, this.ctx);
      this.byType.set(type, e);
    }
    return e;
  }

  /**
   * The whole success reply for a ref → record map (get_all_records) as byte pieces: each row's
   * cached UTF-8 member between the envelope's head and tail. For 10,000 VMs that spares
   * building, measuring and re-encoding a 68 MB string, and the pieces go to the socket as they
   * are (no joined copy). Undefined for other types (they take the string path).
   */
  recordMapReply(type: TypeDesc, value: unknown): Buffer[] | undefined {
    if (type.kind !== 'map' || type.value.kind !== 'record' || this.ctx.special?.(type.value.cls))
      return undefined;
    if (value === null || typeof value !== 'object') return undefined;
    const encode = this.encoder(type.value);
    const o = value as Record<string, unknown>;
    const parts: Buffer[] = [RECORD_MAP_HEAD];
    for (const ref in o) parts.push(cachedXmlMember(o[ref] as Row, ref, encode));
    parts.push(RECORD_MAP_TAIL);
    return parts;
  }

  private record(cls: string): Encoder {
    let e = this.recordByClass.get(cls);
    if (!e) {
      e = xmlEncoder({ kind: 'record', cls }, this.ctx);
      this.recordByClass.set(cls, e);
    }
    return e;
  }

  /**
   * The success reply to event.from as byte pieces: the batch's `<value>` as UTF-8, encoded once
   * per batch however many watchers receive it. Undefined for other results.
   */
  eventBatchReply(type: TypeDesc, value: unknown): Buffer[] | undefined {
    if (type.kind !== 'record' || type.cls !== 'event_batch' || value === null || typeof value !== 'object')
      return undefined;
    let bytes = this.batchXml.get(value);
    if (!bytes) {
      bytes = Buffer.from(this.eventBatch(value));
      this.batchXml.set(value, bytes);
    }
    return [XML_SUCCESS_HEAD_BYTES, bytes, XML_SUCCESS_TAIL_BYTES];
  }

  private event(v: unknown): string {
    const e = v as {
      id: string;
      timestamp: string;
      class: string;
      operation: string;
      ref: string;
      snapshot?: unknown;
    };
    let out = `<value><struct><member><name>id</name><value>${escapeXml(e.id)}</value></member><member><name>timestamp</name><value>${escapeXml(e.timestamp)}</value></member><member><name>class</name><value>${escapeXml(e.class)}</value></member><member><name>operation</name><value>${e.operation}</value></member><member><name>ref</name><value>${escapeXml(e.ref)}</value></member>`;
    if (e.snapshot !== undefined) {
      const cls = this.classByLower.get(e.class);
      out += `<member><name>snapshot</name>${cls ? this.record(cls)(e.snapshot) : xmlUntyped(e.snapshot)}</member>`;
    }
    return `${out}</struct></value>`;
  }

  private eventBatch(v: unknown): string {
    const b = v as { events: unknown[]; valid_ref_counts: Record<string, number>; token: string };
    let out = '<value><struct><member><name>events</name><value><array><data>';
    for (const e of b.events) out += this.event(e);
    out += '</data></array></value></member><member><name>valid_ref_counts</name><value><struct>';
    for (const k in b.valid_ref_counts)
      out += `<member><name>${k}</name><value><i4>${b.valid_ref_counts[k]}</i4></value></member>`;
    return `${out}</struct></value></member><member><name>token</name><value>${escapeXml(b.token)}</value></member></struct></value>`;
  }
}

/** Event batches shared by many watchers are encoded once (as text, and as UTF-8 with DEL escaped). */
const batchJson = new WeakMap<object, string>();
const batchJsonBytes = new WeakMap<object, Buffer>();

/**
 * The JSON-RPC success reply to event.from as byte pieces: the batch's JSON as UTF-8, encoded
 * once per batch however many watchers receive it; only the envelope (which carries the
 * request's id) is per reply. Undefined for other results.
 */
export function jsonEventBatchReply(
  type: TypeDesc,
  value: unknown,
  version: 1 | 2,
  id: string | number,
): Buffer[] | undefined {
  if (type.kind !== 'record' || type.cls !== 'event_batch' || value === null || typeof value !== 'object')
    return undefined;
  let bytes = batchJsonBytes.get(value);
  if (!bytes) {
    bytes = Buffer.from(fixDel(jsonEncode(type, value)));
    batchJsonBytes.set(value, bytes);
  }
  const [head, tail] = jsonSuccessEnvelope(version, id);
  return [Buffer.from(head), bytes, Buffer.from(tail)];
}

/** JSON text of a result: records from the per-row cache, everything else as JSON.stringify. */
export function jsonEncode(type: TypeDesc, v: unknown): string {
  if (v === undefined) return '""';
  if (type.kind === 'map' && type.value.kind === 'record') {
    const o = v as Record<string, Row>;
    const parts: string[] = [];
    for (const k in o) parts.push(`${JSON.stringify(k)}:${cachedJson(o[k])}`);
    return `{${parts.join(',')}}`;
  }
  if (type.kind === 'record') {
    if (type.cls === 'event_batch') {
      const b = v as { events: WireEvent[]; valid_ref_counts: Record<string, number>; token: string };
      const memo = batchJson.get(b);
      if (memo) return memo;
      const events = b.events.map(
        (e) =>
          `{"id":${JSON.stringify(e.id)},"timestamp":${JSON.stringify(e.timestamp)},"class":${JSON.stringify(e.class)},"operation":"${e.operation}","ref":${JSON.stringify(e.ref)}${e.snapshot ? `,"snapshot":${cachedJson(e.snapshot)}` : ''}}`,
      );
      const text = `{"events":[${events.join(',')}],"valid_ref_counts":${JSON.stringify(b.valid_ref_counts)},"token":${JSON.stringify(b.token)}}`;
      batchJson.set(b, text);
      return text;
    }
    return cachedJson(v as Row);
  }
  return JSON.stringify(v);
}

/**
 * The whole JSON-RPC success reply for a ref → record map (get_all_records) as byte pieces:
 * each row's cached UTF-8 member between the envelope's head and tail, the same bytes as
 * jsonSuccess(…, jsonEncode(…)) without building, scanning and re-encoding one 22 MB string
 * for 10,000 VMs. Undefined for other types.
 */
export function jsonRecordMapReply(
  type: TypeDesc,
  value: unknown,
  version: 1 | 2,
  id: string | number,
): Buffer[] | undefined {
  if (type.kind !== 'map' || type.value.kind !== 'record') return undefined;
  if (value === null || typeof value !== 'object') return undefined;
  const [head, tail] = jsonSuccessEnvelope(version, id);
  const o = value as Record<string, Row>;
  const parts: Buffer[] = [Buffer.from(`${head}{`)];
  for (const ref in o) {
    const member = cachedJsonMember(o[ref], ref);
    parts.push(parts.length === 1 ? member.subarray(1) : member);
  }
  parts.push(Buffer.from(`}${tail}`));
  return parts;
}

/** task.result: the XML-RPC <value> fragment of a result, even for JSON-RPC clients. */
export function taskResultXml(encoders: XmlEncoders, model: Model, wire: string, value: unknown): string {
  const [cls, name] = splitWire(wire);
  const msg = model.classes[cls]?.messages.find((m) => m.name === name);
  return msg ? encoders.encoder(msg.result)(value) : xmlUntyped(value);
}

function splitWire(wire: string): [string, string] {
  const dot = wire.indexOf('.');
  return [wire.slice(0, dot), wire.slice(dot + 1)];
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  close = false,
  extra?: HttpReply,
) {
  res.writeHead(extra?.status ?? status, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    ...RPC_HEADERS,
    ...(close ? { Connection: 'close' } : {}),
    ...extra?.headers,
  });
  res.end(body);
}

/** A 200 reply from byte pieces, written in one corked batch (one writev, no joined copy). */
function sendPieces(res: ServerResponse, type: string, pieces: readonly Buffer[]) {
  let length = 0;
  for (const p of pieces) length += p.length;
  res.writeHead(200, { 'Content-Type': type, 'Content-Length': length, ...RPC_HEADERS });
  res.cork();
  for (const p of pieces) res.write(p);
  res.uncork();
  res.end();
}

function send500(res: ServerResponse, e: unknown) {
  send(res, 500, 'text/html', http500Body(e instanceof Error ? e.message : String(e)), true);
}

/** Long polls: the only calls worth aborting when the client goes away. */
const LONG_POLLS = new Set(['event.from', 'event_from', 'event.next', 'event_next']);

/** Aborts long calls (event.from) when the client goes away. */
function abortOnClose(req: IncomingMessage, res: ServerResponse, method: string): AbortSignal | undefined {
  if (!LONG_POLLS.has(method)) return undefined;
  const ac = new AbortController();
  res.on('close', () => {
    if (!res.writableEnded) ac.abort();
  });
  req.on('aborted', () => ac.abort());
  return ac.signal;
}

export function rpcEndpoints(
  dispatcher: Dispatcher,
  model: Model,
  encoders = new XmlEncoders(model),
): RpcEndpoints {
  const run = (
    method: string,
    params: ParamSource,
    conn: ConnectionInfo,
    signal: AbortSignal | undefined,
  ): Promise<Outcome> => dispatcher.dispatch(method, params, signal ? { ...conn, signal } : conn);
  /** Logins may answer with their own status and headers (SPNEGO: 401 + WWW-Authenticate). */
  const withReply = (conn: ConnectionInfo, method: string): ConnectionInfo =>
    method.startsWith('session') ? { ...conn, reply: { headers: {} } } : conn;

  return {
    async xmlrpc(req, res, conn, body) {
      let call: ReturnType<typeof parseMethodCall>;
      try {
        call = parseMethodCall(body);
      } catch (e) {
        return send500(res, e);
      }
      const params: ParamSource = {
        length: call.params.length,
        decode: (i, type) => decodeXml(type, call.params[i], encoders.decodeCtx),
        invalidUtf8Param: call.invalidUtf8Param,
      };
      const c = withReply(conn, call.method);
      const out = await run(call.method, params, c, abortOnClose(req, res, call.method));
      if (!out.ok) return send(res, 200, 'text/xml', xmlFailure(out.error.description), false, c.reply);
      const pieces =
        encoders.recordMapReply(out.type, out.value) ?? encoders.eventBatchReply(out.type, out.value);
      if (pieces) return sendPieces(res, 'text/xml', pieces);
      const valueXml = encoders.encoder(out.type)(out.value);
      send(
        res,
        200,
        'text/xml',
        call.method === 'system.listMethods' ? xmlBare(valueXml) : xmlSuccess(valueXml),
        false,
        c.reply,
      );
    },

    async jsonrpc(req, res, conn, body) {
      let call: ReturnType<typeof parseJsonRpcRequest>;
      try {
        call = parseJsonRpcRequest(body);
      } catch (e) {
        return send500(res, e instanceof WireFormatError ? e : new WireFormatError(String(e)));
      }
      const params: ParamSource = {
        length: call.params.length,
        decode: (i, type) => decodeJson(type, call.params[i], encoders.decodeCtx),
        invalidUtf8Param: call.invalidUtf8Param,
      };
      const c = withReply(conn, call.method);
      const out = await run(call.method, params, c, abortOnClose(req, res, call.method));
      if (!out.ok)
        return send(
          res,
          200,
          'application/json',
          jsonFailure(call.version, call.id, out.error.description),
          false,
          c.reply,
        );
      const pieces =
        jsonRecordMapReply(out.type, out.value, call.version, call.id) ??
        jsonEventBatchReply(out.type, out.value, call.version, call.id);
      if (pieces) return sendPieces(res, 'application/json', pieces);
      send(
        res,
        200,
        'application/json',
        jsonSuccess(call.version, call.id, jsonEncode(out.type, out.value)),
        false,
        c.reply,
      );
    },
  };
}
