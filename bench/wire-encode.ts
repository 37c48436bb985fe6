// Micro-benchmark of the wire encoders: VM.get_all_records for 10,000 VMs laid out as the real
// datamodel's VM class (≈90 fields of every type), encoded to a full XML-RPC and a JSON-RPC reply.
// Usage: node --import tsx bench/wire-encode.ts   (BENCH_VMS, BENCH_RUNS to change the size)
// The product target is ≤250 ms end to end for this call, so encoding must take a fraction of it.
import { MODEL } from '../src/shared/datamodel/generated/model.js';
import type { TypeDesc } from '../src/shared/datamodel/types.js';
import { jsonEncoder, jsonSuccess } from '../src/shared/wire/json-rpc.js';
import { xmlEncoder, xmlSuccess } from '../src/shared/wire/xml-encode.js';

const VMS = Number(process.env.BENCH_VMS ?? 10_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 7);

const uuid = (i: number, salt: number) =>
  `${(i * 2654435761 + salt).toString(16).padStart(8, '0').slice(-8)}-0000-4000-8000-${String(salt).padStart(12, '0')}`;

/** A plausible internal value of a type, varied by VM index. */
function sample(t: TypeDesc, i: number, salt: number): unknown {
  switch (t.kind) {
    case 'string':
      // One string in ten needs escaping.
      return salt % 5 === 0 ? '' : `vm-${i} text ${salt}${(i + salt) % 10 === 0 ? ' <&>' : ''} label`;
    case 'ref':
      return salt % 3 === 0 ? 'OpaqueRef:NULL' : `OpaqueRef:${uuid(i, salt)}`;
    case 'enum':
      return MODEL.enums[t.name]?.[i % (MODEL.enums[t.name]?.length ?? 1)] ?? '';
    case 'int':
    case 'int32':
      return i * 1048576 + salt;
    case 'float':
      return (i + salt) / 7;
    case 'bool':
      return (i + salt) % 2 === 0;
    case 'datetime':
      return '20240131T23:05:09Z';
    case 'set':
      return Array.from({ length: salt % 4 }, (_, k) => sample(t.of, i, salt + k + 1));
    case 'map': {
      const o: Record<string, unknown> = {};
      for (let k = 0; k < salt % 4; k++) o[`key${k}`] = sample(t.value, i, salt + k + 1);
      return o;
    }
    default:
      return undefined;
  }
}

const fields = MODEL.classes.VM.fields;
const records: Record<string, Record<string, unknown>> = {};
for (let i = 0; i < VMS; i++) {
  const r: Record<string, unknown> = {};
  fields.forEach((f, salt) => {
    r[f.name] = f.name === 'uuid' ? uuid(i, 0) : sample(f.type, i, salt);
  });
  records[`OpaqueRef:${uuid(i, 1)}`] = r;
}

const ctx = { recordFields: (cls: string) => MODEL.classes[cls]?.fields ?? [] };
const type: TypeDesc = { kind: 'map', key: { kind: 'ref', cls: 'VM' }, value: { kind: 'record', cls: 'VM' } };
const toXml = xmlEncoder(type, ctx);
const toJson = jsonEncoder(type, ctx);

function measure(label: string, encode: () => string): void {
  const encodeMs: number[] = [];
  const totalMs: number[] = [];
  // CPU time as well: on a shared machine wall time includes waiting for a core.
  const cpuMs: number[] = [];
  let bytes = 0;
  for (let r = 0; r < RUNS + 2; r++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    const out = encode();
    const t1 = process.hrtime.bigint();
    const cpu = process.cpuUsage(c0);
    // Converting to UTF-8 is part of sending the reply (res.end does it otherwise).
    bytes = Buffer.from(out).length;
    const t2 = process.hrtime.bigint();
    if (r < 2) continue; // the first two runs warm the JIT
    encodeMs.push(Number(t1 - t0) / 1e6);
    cpuMs.push((cpu.user + cpu.system) / 1e3);
    totalMs.push(Number(t2 - t0) / 1e6);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)].toFixed(1);
  console.log(
    `${label.padEnd(5)} ${VMS} VMs × ${fields.length} fields, ${(bytes / 1048576).toFixed(1)} MiB: ` +
      `encode ${median(encodeMs)} ms (CPU ${median(cpuMs)} ms), encode + UTF-8 ${median(totalMs)} ms (medians of ${RUNS})`,
  );
}

measure('XML', () => xmlSuccess(toXml(records)));
measure('JSON', () => jsonSuccess(2, 0, toJson(records)));
