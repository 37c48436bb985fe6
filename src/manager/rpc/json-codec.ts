// JSON-RPC 1.0/2.0 as xapi speaks it on POST /jsonrpc: envelope rules, and result encoding
// (internal values are already the JSON shapes xapi sends: int64 as numbers, datetimes as
// YYYYMMDDTHH:MM:SSZ strings, void as "").
import { WireFormatError } from './xml-codec.js';

export interface JsonRequest {
  method: string;
  params: unknown[];
  id: string | number;
  version: 1 | 2;
}

export function parseJsonRequest(body: Buffer): JsonRequest {
  let req: unknown;
  try {
    req = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new WireFormatError(`invalid JSON: ${(e as Error).message}`);
  }
  if (typeof req !== 'object' || req === null || Array.isArray(req))
    throw new WireFormatError('a JSON-RPC request is an object');
  const r = req as Record<string, unknown>;
  let version: 1 | 2 = 1;
  if ('jsonrpc' in r) {
    if (r.jsonrpc !== '2.0')
      throw new WireFormatError(`unsupported jsonrpc version ${JSON.stringify(r.jsonrpc)}`);
    version = 2;
  }
  if (typeof r.method !== 'string') throw new WireFormatError('method must be a string');
  if (typeof r.id !== 'number' && typeof r.id !== 'string')
    throw new WireFormatError('id must be an integer or a string');
  let params: unknown[];
  if (Array.isArray(r.params)) params = r.params;
  else if (version === 2 && (r.params === undefined || r.params === null)) params = [];
  else if (version === 2 && typeof r.params === 'object') params = [r.params];
  else throw new WireFormatError('params must be an array');
  return { method: r.method, params, id: r.id, version };
}

export function jsonSuccess(version: 1 | 2, id: string | number, resultJson: string): string {
  return version === 2
    ? `{"jsonrpc":"2.0","result":${resultJson},"id":${JSON.stringify(id)}}`
    : `{"result":${resultJson},"error":null,"id":${JSON.stringify(id)}}`;
}

export function jsonFailure(version: 1 | 2, id: string | number, description: readonly string[]): string {
  const [code, ...params] = description;
  return version === 2
    ? `{"jsonrpc":"2.0","error":{"code":1,"message":${JSON.stringify(code)},"data":${JSON.stringify(params)}},"id":${JSON.stringify(id)}}`
    : `{"result":null,"error":${JSON.stringify(description)},"id":${JSON.stringify(id)}}`;
}
