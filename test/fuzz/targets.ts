// One fuzz target per parser, each with its corpus (test/fuzz/corpus/<name>/, captured from real
// clients by tools/fuzz-capture.ts), its dictionary, its documented error type and its
// round-trip properties. See docs/fuzzing.md.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { parseOptions, parseRcFile, UsageExit } from '../../src/clients/xe/main.js';
import {
  boolParam,
  mapParams,
  parseBody,
  parseBool,
  parseCommandLine,
  parseSize,
} from '../../src/manager/cli/args.js';
import { CliError } from '../../src/manager/cli/errors.js';
import { compileWhere, parseWhere } from '../../src/manager/db/where.js';
import { consoleParams } from '../../src/manager/http/console.js';
import { pathOf } from '../../src/manager/http/server.js';
import {
  decodeMessage,
  encodeChunk,
  encodeCommand,
  encodeEnd,
  encodeResponse,
  HANDSHAKE_LENGTH,
  type Message,
  ProtocolError,
  parseHandshake,
} from '../../src/shared/cli-protocol.js';
import { MODEL } from '../../src/shared/datamodel/generated/model.js';
import type { MessageSpec } from '../../src/shared/datamodel/model-types.js';
import type { TypeDesc } from '../../src/shared/datamodel/types.js';
import { XenApiError } from '../../src/shared/errors.js';
import { EventLineParser } from '../../src/shared/noded/client.js';
import {
  AgentError,
  decodeReply,
  errorReply,
  okReply,
  PROCEDURE_RE,
  parseArgs,
  RequestError,
} from '../../src/shared/noded/protocol.js';
import {
  type DecodeContext,
  decodeJson,
  decodeXml,
  jsonEncoder,
  parseJsonRpcRequest,
  parseMethodCall,
  parseMethodResponse,
  parseValueFragment,
  WireFormatError,
  type XmlValue,
  xmlEncoder,
  xmlSuccess,
  xmlValueToJs,
} from '../../src/shared/wire/index.js';
import { type Input, PropertyViolation, type Target, type Units } from './engine.js';

const CORPUS = join(import.meta.dirname, 'corpus');

function loadBytes(name: string): Buffer[] {
  const dir = join(CORPUS, name);
  return readdirSync(dir)
    .sort()
    .map((f) => readFileSync(join(dir, f)));
}

function loadArgv(name: string): string[][] {
  return loadBytes(name).map((b) => JSON.parse(b.toString('utf8')) as string[]);
}

const bytes = (x: Input) => x as Buffer;
const violated = (what: string, a: unknown, b: unknown): never => {
  throw new PropertyViolation(
    `${what}: ${JSON.stringify(a, bigints)?.slice(0, 300)} ≠ ${JSON.stringify(b, bigints)?.slice(0, 300)}`,
  );
};
const bigints = (_k: string, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v);

// ---------- the datamodel, for type-directed decoding of real messages ----------

const decodeCtx: DecodeContext = {
  enumValues: (name) => MODEL.enums[name],
  recordFields: (cls) => MODEL.classes[cls]?.fields ?? [],
};
const encodeCtx = { recordFields: (cls: string) => MODEL.classes[cls]?.fields ?? [] };

const MESSAGES = new Map<string, MessageSpec>();
for (const c of Object.values(MODEL.classes))
  for (const m of c.messages) {
    MESSAGES.set(m.wire, m);
    MESSAGES.set(m.wire.replace('.', '_'), m);
  }

/** Types tried for the parameters of unknown methods, so that mutants still reach the decoders. */
const FALLBACK: TypeDesc[] = [
  { kind: 'string' },
  { kind: 'int' },
  { kind: 'float' },
  { kind: 'bool' },
  { kind: 'datetime' },
  { kind: 'set', of: { kind: 'ref', cls: 'VM' } },
  { kind: 'map', key: { kind: 'string' }, value: { kind: 'string' } },
  { kind: 'record', cls: 'VM' },
  { kind: 'enum', name: 'vm_power_state' },
  { kind: 'map', key: { kind: 'ref', cls: 'VM' }, value: { kind: 'record', cls: 'VM' } },
];
const SESSION: TypeDesc = { kind: 'ref', cls: 'session' };

/** The declared wire types of a call's parameters (session first), or fallbacks. */
function paramTypes(method: string, n: number): TypeDesc[] {
  const m = MESSAGES.get(method.startsWith('Async.') ? method.slice(6) : method);
  if (m) return [...(m.session ? [SESSION] : []), ...m.params.map((p) => p.type)];
  return Array.from({ length: n }, (_, i) => FALLBACK[(i + method.length) % FALLBACK.length]);
}

/** True when a value holds a number JSON cannot carry (yojson prints them; JSON.parse refuses). */
function nonFinite(v: unknown): boolean {
  if (typeof v === 'number') return !Number.isFinite(v);
  if (Array.isArray(v)) return v.some(nonFinite);
  if (v && typeof v === 'object') return Object.values(v).some(nonFinite);
  return false;
}

/** Equal as JSON values (JSON has one zero: -0 travels as 0). */
const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

const wireErrors = (e: unknown) => e instanceof WireFormatError || e instanceof XenApiError;

// ---------- XML-RPC ----------

const XML_DICT = [
  '<value>',
  '</value>',
  '<array><data>',
  '</data></array>',
  '<struct>',
  '</struct>',
  '<member><name>a</name><value>',
  '</value></member>',
  '<string>',
  '<int>',
  '<i4>',
  '<i8>',
  '<double>',
  '<boolean>',
  '<base64>',
  '<nil/>',
  '<dateTime.iso8601>',
  '<value><array><data>',
  '<',
  '>',
  '</',
  '/>',
  '&',
  '&amp;',
  '&#0;',
  '&#x10FFFF;',
  '&#xD800;',
  '&lol;',
  '<!DOCTYPE x [<!ENTITY a "b">]>',
  '<!DOCTYPE x SYSTEM "file:///etc/passwd">',
  '<![CDATA[',
  ']]>',
  '<?pi?>',
  '<!--',
  '-->',
  '\u0000',
  '\uFFFD',
  '\uFEFF',
  '"',
  "'",
];

function runXml(input: Input): boolean {
  const call = parseMethodCall(bytes(input));
  const types = paramTypes(call.method, call.params.length);
  for (let i = 0; i < Math.min(types.length, call.params.length); i++) {
    let value: unknown;
    try {
      value = decodeXml(types[i], call.params[i], decodeCtx);
    } catch (e) {
      if (e instanceof XenApiError) continue;
      throw e;
    }
    roundTripXml(types[i], value);
  }
  return true;
}

/** encode → parse → decode gives the same internal value; the response parser agrees. */
function roundTripXml(type: TypeDesc, value: unknown) {
  const xml = xmlEncoder(type, encodeCtx)(value);
  let back: XmlValue;
  try {
    back = parseValueFragment(xml);
  } catch (e) {
    return violated(`XML of ${JSON.stringify(type)} does not parse (${(e as Error).message})`, value, xml);
  }
  const again = decodeXml(type, back, decodeCtx);
  if (!isDeepStrictEqual(again, value)) violated('XML round trip', value, again);
  const resp = parseMethodResponse(xmlSuccess(xml));
  if (!resp.ok || !isDeepStrictEqual((resp.value as { Value?: unknown }).Value, xmlValueToJs(back)))
    violated('methodResponse round trip', xmlValueToJs(back), resp);
}

/**
 * Responses, as our SDK and tests read them: documented errors only. (Their round trip is typed and
 * lives in the request target: xmlEncoder → parseMethodResponse. Untyped re-encoding is lossy by
 * design: xapi writes int64 as bare strings.)
 */
function runXmlResponse(input: Input): boolean {
  parseMethodResponse(bytes(input));
  return true;
}

// ---------- JSON-RPC ----------

const JSON_DICT = [
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '"',
  '\\u',
  '\\ud800',
  '\\u0000',
  'null',
  'true',
  'false',
  '1e999',
  '-0',
  '0.1',
  '9007199254740993',
  '"jsonrpc":"2.0",',
  '"jsonrpc":"1.0",',
  '"params":',
  '"id":',
  '"method":',
  '"__proto__":',
  '{"__proto__":{"x":1}}',
  '"OpaqueRef:NULL"',
  '[[[[',
  '{"a":',
];

function runJson(input: Input): boolean {
  const req = parseJsonRpcRequest(bytes(input));
  const types = paramTypes(req.method, req.params.length);
  for (let i = 0; i < Math.min(types.length, req.params.length); i++) {
    let value: unknown;
    try {
      value = decodeJson(types[i], req.params[i], decodeCtx);
    } catch (e) {
      if (e instanceof XenApiError) continue;
      throw e;
    }
    if (nonFinite(value)) continue; // JSON has no text for them (see docs/fuzzing.md)
    const text = jsonEncoder(types[i], encodeCtx)(value);
    let back: unknown;
    try {
      back = JSON.parse(text);
    } catch {
      violated(`JSON of ${JSON.stringify(types[i])} does not parse`, value, text);
    }
    const again = decodeJson(types[i], back, decodeCtx);
    if (!isDeepStrictEqual(again, value)) violated('JSON round trip', value, again);
  }
  return true;
}

// ---------- the thin CLI protocol (both directions) ----------

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
};
const CLI_DICT = [
  u32(0),
  u32(1),
  u32(0xffffffff),
  u32(1 << 20),
  u32(9),
  u32(10),
  u32(11),
  u32(14),
  u32(17),
  u32(18),
  'XenSource thin CLI protocol',
  '\u00e9',
  // Whole frames, for insertion at frame boundaries too.
  encodeResponse('ok'),
  encodeResponse('failed'),
  encodeResponse('wait'),
  Buffer.concat([encodeChunk(5), Buffer.from('hello')]),
  encodeEnd(),
  encodeCommand({ kind: 'prompt' }),
  encodeCommand({ kind: 'error', code: 'X', params: ['a', 'b'] }),
].map((x) => (typeof x === 'string' ? Buffer.from(x, 'utf8').toString('latin1') : x.toString('latin1')));

/** A captured stream cut into its handshake, whole frames (a chunk header with its data) and the rest. */
export function cliUnits(b: Buffer): Units | undefined {
  if (b.length < HANDSHAKE_LENGTH) return undefined;
  const units: Buffer[] = [];
  let off = HANDSHAKE_LENGTH;
  while (off + 4 <= b.length) {
    const n = b.readUInt32LE(off);
    if (off + 4 + n > b.length) break;
    let end = off + 4 + n;
    // A Blob Chunk header (tag 11, sub 7) is followed by its raw bytes.
    if (n === 12 && b.readUInt32LE(off + 4) === 11 && b.readUInt32LE(off + 8) === 7)
      end = Math.min(b.length, end + b.readUInt32LE(off + 12));
    units.push(b.subarray(off, end));
    off = end;
  }
  return { head: b.subarray(0, HANDSHAKE_LENGTH), units, tail: b.subarray(off) };
}

function encodeMessage(m: Message): Buffer {
  switch (m.tag) {
    case 'command':
      return encodeCommand(m.command);
    case 'response':
      return encodeResponse(m.response);
    case 'chunk':
      return encodeChunk(m.length);
    case 'end':
      return encodeEnd();
  }
}

/** Reads a captured stream as ByteReader and the conversation do: handshake, then frames. */
function runCliProtocol(input: Input): boolean {
  const b = bytes(input);
  if (b.length < HANDSHAKE_LENGTH || !parseHandshake(b.subarray(0, HANDSHAKE_LENGTH))) return false;
  let off = HANDSHAKE_LENGTH;
  while (off + 4 <= b.length) {
    const n = b.readUInt32LE(off);
    off += 4;
    if (n > 1 << 20) throw new ProtocolError(`message too large (${n} bytes)`);
    if (off + n > b.length) return false; // EOF mid-frame
    const m = decodeMessage(b.subarray(off, off + n));
    off += n;
    const again = decodeMessage(encodeMessage(m).subarray(4));
    if (!isDeepStrictEqual(again, m)) violated('CLI message round trip', m, again);
    if (m.tag === 'chunk') off += m.length; // raw blob bytes follow the header
  }
  return true;
}

// ---------- POST /cli request bodies (server-side argument parsing) ----------

const CLI_ARG_DICT = [
  '\n',
  '\r\n',
  '=',
  '--',
  '-',
  '-u',
  '-pw',
  '-s',
  '-p',
  '-h',
  '--minimal',
  'session_id=OpaqueRef:x\n',
  'params=all',
  'other-config:',
  ':',
  'uuid=',
  'virtual-size=',
  '10GiB',
  '99999999999999999999T',
  ' 512 m',
  'true',
  'yes',
  'help\n',
];

function runCliBody(input: Input): boolean {
  const text = bytes(input).toString('utf8');
  const parsed = parseBody(text);
  const { cmd, params } = parseCommandLine(parsed.args);
  if (cmd.includes('=')) violated('command names hold no =', cmd, parsed.args);
  // The value syntaxes, on the first parameters (a command reads only the ones it declares).
  for (const [k, v] of params.slice(0, 64)) {
    for (const parse of [parseBool, parseSize])
      try {
        parse(k, v);
      } catch (e) {
        if (!(e instanceof CliError)) throw e;
      }
  }
  mapParams(params, 'other-config');
  boolParam(params, 'minimal');
  // The body xe sends for these arguments parses back to them (xe joins its arguments with \n).
  if (!parsed.args.some((a) => a.endsWith('\r'))) {
    const body = [...(parsed.session !== undefined ? [`session_id=${parsed.session}`] : []), ...parsed.args];
    const back = parseBody(body.join('\n'));
    if (!isDeepStrictEqual(back, parsed)) violated('/cli body round trip', parsed, back);
  }
  return true;
}

// ---------- xe's own command line, XE_EXTRA_ARGS and ~/.xe ----------

const XE_DICT = [
  '-s',
  '-h',
  '-p',
  '-u',
  '-pw',
  '-pwf',
  '--nossl',
  '--debug',
  '--debug-on-fail',
  '--traceparent',
  '-help',
  '-version',
  'server=',
  'port=',
  'port=65536',
  'port=-1',
  'username=',
  'password=',
  'passwordfile=',
  '\\,',
  ',',
  '=',
  '\n',
];

const NO_FILE = '/nonexistent/berth-fuzz';

/** Password files are the one input xe reads from disk: point them nowhere. */
function noFiles(argv: string[]): string[] {
  return argv.map((a, i) =>
    argv[i - 1] === '-pwf' ? NO_FILE : /(^|,)passwordfile=/.test(a) ? `passwordfile=${NO_FILE}` : a,
  );
}

function runXeArgv(input: Input): boolean {
  const argv = noFiles(input as string[]);
  parseOptions(argv, {}, []);
  const extra = argv.join(',');
  if (!/passwordfile|-pwf/.test(extra)) parseOptions([], { XE_EXTRA_ARGS: extra }, []);
  const rc = parseRcFile(argv.join('\n'));
  if (!rc.error) {
    parseOptions(
      [],
      {},
      rc.settings.filter(([k]) => k !== 'passwordfile'),
    );
    const back = parseRcFile(rc.settings.map(([k, v]) => `${k}=${v}`).join('\n'));
    if (!isDeepStrictEqual(back, rc)) violated('~/.xe round trip', rc, back);
  }
  return true;
}

// ---------- the agent RPC: requests (agent side) and replies/events (manager side) ----------

const AGENT_DICT = [
  ...JSON_DICT.slice(0, 17),
  '"uuid":',
  '"disks":[',
  '{"xenapi":["HANDLE_INVALID"',
  'POST /',
  '?x=1',
];

function runAgentRequest(input: Input): boolean {
  const text = bytes(input).toString('utf8');
  const nl = text.indexOf('\n');
  const line = nl < 0 ? text : text.slice(0, nl);
  const body = nl < 0 ? '' : text.slice(nl + 1);
  const name = (line.split(' ')[1] ?? '/').slice(1).split('?')[0]; // as AgentServer reads it
  PROCEDURE_RE.test(name);
  const args = parseArgs(body);
  if (!Array.isArray(args)) violated('arguments are a list', args, body);
  if (!nonFinite(args)) {
    const again = parseArgs(JSON.stringify(args)); // what the manager's client sends
    if (!sameJson(again, args)) violated('agent request round trip', args, again);
  }
  return true;
}

function runAgentReply(input: Input): boolean {
  const text = bytes(input).toString('utf8');
  // The push channel's newline-delimited events never throw, whatever arrives.
  new EventLineParser().push(text);
  let value: unknown;
  try {
    value = decodeReply('fuzz', text);
  } catch (e) {
    if (e instanceof XenApiError) {
      try {
        decodeReply('fuzz', errorReply(e));
      } catch (again) {
        if (!(again instanceof XenApiError) || !isDeepStrictEqual(again.description, e.description))
          violated('agent error round trip', e.description, again);
        throw e;
      }
      violated('agent error round trip', e.description, 'no error');
    }
    throw e;
  }
  if (!nonFinite(value)) {
    const again = decodeReply('fuzz', okReply(value));
    if (!sameJson(again, value ?? null)) violated('agent reply round trip', value, again);
  }
  return true;
}

// ---------- HTTP request targets and query strings (/console, routing) ----------

const QUERY_DICT = [
  '?',
  '&',
  '=',
  '%',
  '%2',
  '%zz',
  '%E0%A4%A',
  '%00',
  '%3B',
  '#',
  '//',
  '//[',
  'http://',
  '[::1]',
  ';',
  'session_id=',
  'ref=',
  'uuid=',
  'OpaqueRef:',
  '\n',
  ' ',
  '\u00e9',
];

function runHttpQuery(input: Input): boolean {
  const text = bytes(input).toString('latin1'); // Node hands request targets and headers over as latin1
  const nl = text.indexOf('\n');
  const line = nl < 0 ? text : text.slice(0, nl);
  const cookie = nl < 0 ? undefined : text.slice(nl + 1);
  const target = line.split(' ')[1];
  pathOf(target);
  const p = consoleParams(target, cookie);
  // Query round trip: the parameters, written as a query, read back the same.
  const q = new URLSearchParams();
  if (p.ref !== undefined) q.set('ref', p.ref);
  if (p.uuid !== undefined) q.set('uuid', p.uuid);
  if (p.session) q.set('session_id', p.session);
  const back = consoleParams(`/console?${q}`, undefined);
  const want = { session: p.session || undefined, ref: p.ref, uuid: p.uuid };
  if (!isDeepStrictEqual(back, want)) violated('console query round trip', want, back);
  // Cookie round trip.
  if (p.session) {
    const c = consoleParams('/console', `session_id=${encodeURIComponent(p.session)}`);
    if (c.session !== p.session) violated('console cookie round trip', p.session, c.session);
  }
  return true;
}

// ---------- get_all_records_where expressions ----------

const WHERE_DICT = [
  '(',
  ')',
  '"',
  '\\"',
  '=',
  '<>',
  'not ',
  ' and ',
  ' or ',
  'field ',
  'true',
  'false',
  '"x"',
];

function runWhere(input: Input): boolean {
  const ast = parseWhere(bytes(input).toString('utf8'));
  compileWhere(ast)((c) => (c.length % 2 ? c : undefined));
  return true;
}

// ---------- the table ----------

export function fuzzTargets(): Target[] {
  return [
    {
      name: 'xmlrpc',
      kind: 'bytes',
      corpus: loadBytes('xmlrpc'),
      dictionary: XML_DICT,
      run: runXml,
      expected: wireErrors,
    },
    {
      name: 'xmlrpc-response',
      kind: 'bytes',
      corpus: loadBytes('xmlrpc-response'),
      dictionary: XML_DICT,
      run: runXmlResponse,
      expected: wireErrors,
    },
    {
      name: 'jsonrpc',
      kind: 'bytes',
      corpus: loadBytes('jsonrpc'),
      dictionary: JSON_DICT,
      run: runJson,
      expected: wireErrors,
    },
    {
      name: 'cli-protocol',
      kind: 'bytes',
      corpus: loadBytes('cli-protocol'),
      dictionary: CLI_DICT,
      binary: true,
      units: cliUnits,
      run: runCliProtocol,
      expected: (e) => e instanceof ProtocolError,
    },
    {
      name: 'cli-body',
      kind: 'bytes',
      corpus: loadBytes('cli-body'),
      dictionary: CLI_ARG_DICT,
      run: runCliBody,
      expected: (e) => e instanceof CliError,
    },
    {
      name: 'xe-argv',
      kind: 'argv',
      corpus: loadArgv('xe-argv'),
      dictionary: XE_DICT,
      run: runXeArgv,
      expected: (e) => e instanceof UsageExit,
    },
    {
      name: 'agent-request',
      kind: 'bytes',
      corpus: loadBytes('agent-request'),
      dictionary: AGENT_DICT,
      run: runAgentRequest,
      expected: (e) => e instanceof RequestError,
    },
    {
      name: 'agent-reply',
      kind: 'bytes',
      corpus: loadBytes('agent-reply'),
      dictionary: AGENT_DICT,
      run: runAgentReply,
      expected: (e) => e instanceof AgentError || e instanceof XenApiError,
    },
    {
      name: 'http-query',
      kind: 'bytes',
      corpus: loadBytes('http-query'),
      dictionary: QUERY_DICT,
      run: runHttpQuery,
      expected: () => false, // documented: never throws (an unreadable query names nothing)
    },
    {
      name: 'where',
      kind: 'bytes',
      corpus: loadBytes('where'),
      dictionary: WHERE_DICT,
      run: runWhere,
      expected: (e) => e instanceof XenApiError,
    },
  ];
}
