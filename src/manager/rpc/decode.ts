// Decodes request parameters by their declared datamodel type into internal values, with xapi's
// leniency: int64 from ints or decimal strings, floats from doubles/ints/strings, enums matched
// case-insensitively; everything else must have the right type, else INTERNAL_ERROR.
import type { Model } from '../../shared/datamodel/model-types.js';
import type { TypeDesc } from '../../shared/datamodel/types.js';
import { XenApiError } from '../../shared/errors.js';
import { toXapiTime } from '../time.js';
import type { XmlValue } from './xml-codec.js';

const mismatch = (want: string, got: string) =>
  new XenApiError('INTERNAL_ERROR', [`Failure("Expected ${want}, got '${got}'")`]);

const show = (v: XmlValue): string => {
  switch (v.t) {
    case 'string':
      return `S(${v.v.slice(0, 40)})`;
    case 'int':
      return `I(${v.v})`;
    case 'bool':
      return `B(${v.v})`;
    case 'double':
      return `D(${v.v})`;
    case 'array':
      return 'Enum';
    case 'struct':
      return 'Dict';
    case 'nil':
      return 'Null';
    default:
      return v.t;
  }
};

const INT_RE = /^\s*[-+]?\d+\s*$/;
const FLOAT_RE = /^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$/;

function toInt(text: string, describe: () => string): number {
  if (!INT_RE.test(text)) throw mismatch('int', describe());
  const n = Number(text);
  if (!Number.isSafeInteger(n))
    throw new XenApiError('INTERNAL_ERROR', [`Failure("int64 out of range: ${text.trim()}")`]);
  return n;
}

/** xapi's datetime form from the accepted spellings (xapi's own, or ISO 8601 with dashes). */
function toDatetime(text: string, describe: () => string): string {
  const t = text.trim();
  if (/^\d{8}T\d{2}:\d{2}:\d{2}Z?$/.test(t)) return t.endsWith('Z') ? t : `${t}Z`;
  const ms = Date.parse(t);
  if (Number.isNaN(ms)) throw mismatch('datetime', describe());
  return toXapiTime(new Date(ms));
}

function enumValue(model: Model, name: string, s: string, describe: () => string): string {
  const values = model.enums[name] ?? [];
  const lower = s.toLowerCase();
  const hit = values.find((v) => v.toLowerCase() === lower);
  if (hit === undefined)
    throw new XenApiError('INTERNAL_ERROR', [`Failure("Unknown value ${describe()} for enum ${name}")`]);
  return hit;
}

export function decodeXml(model: Model, type: TypeDesc, v: XmlValue): unknown {
  const d = () => show(v);
  switch (type.kind) {
    case 'string':
    case 'ref':
      if (v.t !== 'string') throw mismatch('string', d());
      return v.v;
    case 'enum':
      if (v.t !== 'string') throw mismatch('string', d());
      return enumValue(model, type.name, v.v, d);
    case 'int':
    case 'int32':
      if (v.t !== 'int' && v.t !== 'string') throw mismatch('int', d());
      return toInt(v.v, d);
    case 'float':
      if ((v.t !== 'double' && v.t !== 'int' && v.t !== 'string') || !FLOAT_RE.test(v.v))
        throw mismatch('float', d());
      return Number(v.v);
    case 'bool':
      if (v.t !== 'bool') throw mismatch('bool', d());
      return v.v === '1';
    case 'datetime':
      if (v.t !== 'datetime' && v.t !== 'string') throw mismatch('datetime', d());
      return toDatetime(v.v, d);
    case 'set':
      if (v.t !== 'array') throw mismatch('array', d());
      return v.v.map((x) => decodeXml(model, type.of, x));
    case 'map': {
      if (v.t !== 'struct') throw mismatch('struct', d());
      const out: Record<string, unknown> = {};
      for (const [k, x] of v.v) {
        const key = type.key.kind === 'enum' ? enumValue(model, type.key.name, k, () => k) : k;
        out[key] = decodeXml(model, type.value, x);
      }
      return out;
    }
    case 'record': {
      if (v.t !== 'struct') throw mismatch('struct', d());
      const fields = model.classes[type.cls]?.fields ?? [];
      const out: Record<string, unknown> = {};
      for (const f of fields) {
        const x = v.v.get(f.name);
        if (x !== undefined) out[f.name] = decodeXml(model, f.type, x);
      }
      return out;
    }
    case 'option':
      return v.t === 'nil' ? undefined : decodeXml(model, type.of, v);
    case 'void':
      return undefined;
  }
}

const showJson = (v: unknown) =>
  typeof v === 'string' ? `S(${v.slice(0, 40)})` : (JSON.stringify(v)?.slice(0, 40) ?? 'undefined');

export function decodeJson(model: Model, type: TypeDesc, v: unknown): unknown {
  const d = () => showJson(v);
  switch (type.kind) {
    case 'string':
    case 'ref':
      if (typeof v !== 'string') throw mismatch('string', d());
      return v;
    case 'enum':
      if (typeof v !== 'string') throw mismatch('string', d());
      return enumValue(model, type.name, v, d);
    case 'int':
    case 'int32':
      if (typeof v === 'number') {
        if (!Number.isSafeInteger(v)) throw mismatch('int', d());
        return v;
      }
      if (typeof v !== 'string') throw mismatch('int', d());
      return toInt(v, d);
    case 'float':
      if (typeof v === 'number') return v;
      if (typeof v !== 'string' || !FLOAT_RE.test(v)) throw mismatch('float', d());
      return Number(v);
    case 'bool':
      if (typeof v !== 'boolean') throw mismatch('bool', d());
      return v;
    case 'datetime':
      if (typeof v !== 'string') throw mismatch('datetime', d());
      return toDatetime(v, d);
    case 'set':
      if (!Array.isArray(v)) throw mismatch('array', d());
      return v.map((x) => decodeJson(model, type.of, x));
    case 'map': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw mismatch('struct', d());
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        const key = type.key.kind === 'enum' ? enumValue(model, type.key.name, k, () => k) : k;
        out[key] = decodeJson(model, type.value, x);
      }
      return out;
    }
    case 'record': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw mismatch('struct', d());
      const fields = model.classes[type.cls]?.fields ?? [];
      const o = v as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const f of fields)
        if (Object.hasOwn(o, f.name)) out[f.name] = decodeJson(model, f.type, o[f.name]);
      return out;
    }
    case 'option':
      return v === null || v === undefined ? undefined : decodeJson(model, type.of, v);
    case 'void':
      return undefined;
  }
}
