// Streaming reader of an uploaded XVA (xapi import.ml with_open_archive + stream_vdi.ml
// recv_all_vdi), hardened: compression detected from the first bytes (zstd, gzip, else plain tar),
// ova.xml must be the first member, every member name is checked (no `..`, no absolute path, the
// disk's `<id>/NNNNNNNN` pattern, counters strictly increasing), data members are at most 1 MiB
// and must land inside the disk's virtual size (so a decompression bomb cannot make a disk grow),
// each chunk is checked against its `.xxhash` (XXH64) or legacy `.checksum` (SHA-1) member before
// the consumer sees it, export_vsn < 2 trailing checksum tables are verified, the legacy
// directory format is refused by name, and an archive that ends early fails with
// IMPORT_ERROR_PREMATURE_EOF. Reading stops once every disk is accounted for.
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { XenApiError } from '../errors.js';
import { parseValueFragment } from '../wire/xml-parse.js';
import { loadXxhash, sha1Hex, xxh64Hex } from './checksum.js';
import { CHUNK_SIZE, OVA_XML, SHA1_EXT, XXHASH_EXT } from './constants.js';
import { type XvaCompression, decompressStream, detectCompression } from './compress.js';
import {
  checksumsFailed,
  importError,
  invalidXva,
  legacyFormat,
  prematureEof,
  unexpectedFile,
} from './errors.js';
import { decodeOvaXml, disksOfOva, isLegacyAppliance, type OvaDisk, type OvaHeader } from './ova-xml.js';
import { isAllZero } from './writer.js';

export interface XvaImportChunk {
  ref: string;
  offset: number;
  data: Buffer;
  /**
   * With `reuseBuffers`, `data` goes back to the reader's pool once chunk() resolves, unless the
   * consumer called hold(): then it goes back when the returned release() is called.
   */
  hold?(): () => void;
}

export interface XvaConsumer {
  /**
   * ova.xml was read: return the disks whose data follow (default: disksOfOva). Creating records
   * here is the importer's business; throwing stops the import.
   */
  metadata?(m: {
    header: OvaHeader;
    xml: string;
    compression: XvaCompression;
  }): Promise<readonly OvaDisk[] | undefined> | readonly OvaDisk[] | undefined;
  /** A verified chunk; bytes not delivered are zeros. The next read waits for this promise. */
  chunk(c: XvaImportChunk): Promise<void> | void;
  diskDone?(ref: string): Promise<void> | void;
}

export interface XvaReadOptions {
  /** xapi's force=true: checksum mismatches are recorded, not fatal. */
  force?: boolean;
  signal?: AbortSignal;
  /** Largest ova.xml accepted (default 256 MiB). */
  maxOvaXmlBytes?: number;
  /**
   * Read chunks into a few recycled 1 MiB buffers instead of a new one each (fresh memory costs
   * page faults on every chunk); the consumer must hold() a chunk it keeps past its promise.
   */
  reuseBuffers?: boolean;
}

export interface XvaReadResult {
  header: OvaHeader;
  xml: string;
  compression: XvaCompression;
  /** Member names whose checksum did not match (only non-empty with force). */
  checksumFailures: string[];
}

const MAX_CHECKSUM_MEMBER = 128;
const MAX_CHECKSUM_TABLE = 64 * 1024 * 1024;
const PEEK = 512;

type Entry = Readable & { header: tar.Header };

/** Reads the first `n` bytes (or fewer at end) and returns them with an iterable of everything. */
async function peek(input: AsyncIterable<Uint8Array>, n: number) {
  const it = input[Symbol.asyncIterator]();
  const parts: Buffer[] = [];
  let have = 0;
  let ended = false;
  while (have < n) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    const b = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    parts.push(b);
    have += b.length;
  }
  const head = Buffer.concat(parts);
  async function* all(): AsyncGenerator<Buffer> {
    try {
      if (head.length) yield head;
      if (ended) return;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
      }
    } finally {
      if (!ended) await it.return?.();
    }
  }
  return { head, stream: all() };
}

const TRUNCATED = /unexpected end|premature|truncat|incomplete/i;

/** Maps a failure from tar-stream or a decompressor to xapi's error. */
function importFailure(e: unknown): Error {
  if (e instanceof XenApiError) return e;
  const err = e as Error & { code?: string };
  if (err?.name === 'AbortError') return err;
  const msg = String(err?.message ?? e);
  if (TRUNCATED.test(msg) || err?.code === 'Z_BUF_ERROR') return prematureEof();
  return importError(msg);
}

/** Pulls tar entries one at a time, with one-entry pushback. */
class Entries {
  private pushed: Entry | null = null;
  constructor(private readonly it: AsyncIterator<Entry>) {}
  async next(): Promise<Entry | null> {
    if (this.pushed) {
      const e = this.pushed;
      this.pushed = null;
      return e;
    }
    const r = await this.it.next();
    return r.done ? null : r.value;
  }
  pushBack(e: Entry): void {
    this.pushed = e;
  }
}

/** Recycled chunk buffers (CHUNK_SIZE each): warm memory instead of a fresh allocation per chunk. */
export class ChunkPool {
  private readonly free: Buffer[] = [];
  constructor(private readonly keep = 32) {}
  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(CHUNK_SIZE);
  }
  give(b: Buffer): void {
    if (this.free.length < this.keep) this.free.push(b);
  }
}

/**
 * A member's bytes, in `into` (a buffer of at least `size` bytes) when given. Event-driven: async
 * iteration per piece costs ~40 % of the read throughput.
 */
function readBody(e: Entry, size: number, into?: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out = into ? into.subarray(0, size) : Buffer.allocUnsafe(size);
    let at = 0;
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      reject(err);
    };
    e.on('data', (piece: Buffer) => {
      if (at + piece.length > size) {
        fail(invalidXva(`member ${e.header.name} longer than its header says`));
        e.destroy();
        return;
      }
      piece.copy(out, at);
      at += piece.length;
    });
    e.once('end', () => {
      if (at !== size) return fail(prematureEof());
      settled = true;
      resolve(out);
    });
    e.once('error', (err: Error) => fail(err));
    e.once('close', () => fail(prematureEof()));
  });
}

/** A member name that could escape a directory or is not a plain relative path. */
export function isUnsafeName(name: string): boolean {
  return (
    name.startsWith('/') ||
    name.includes('\\') ||
    name.includes('\0') ||
    name.split('/').some((s) => s === '..')
  );
}

function checkName(e: Entry): string {
  const name = e.header.name;
  if (isUnsafeName(name)) throw invalidXva(`unsafe member name "${name}"`);
  if (e.header.type !== 'file') throw invalidXva(`member ${name} is a ${e.header.type}, not a file`);
  return name;
}

/** A disk id usable as a member-name prefix. */
function checkRef(ref: string): void {
  if (!ref || ref.length > 90 || ref.includes('/') || isUnsafeName(ref) || ref === '.')
    throw invalidXva(`unusable VDI id "${ref}"`);
}

interface DiskState {
  vsn: number;
  force: boolean;
  failures: string[];
  /** Computed checksums for the export_vsn < 2 trailing table. */
  table: Map<string, string>;
  signal?: AbortSignal;
  /** Where chunk buffers come from when they are recycled (reuseBuffers). */
  pool?: ChunkPool;
}

const DIGITS8 = /^\d{8}$/;

/** Reads one disk's members until its virtual size is accounted for (xapi's position rules). */
async function readDisk(
  entries: Entries,
  disk: OvaDisk,
  st: DiskState,
  consumer: XvaConsumer,
): Promise<void> {
  const { ref, virtualSize: size } = disk;
  let pos = 0;
  let lastCounter = -1;
  let firstLen = -1;
  let prevEmpty = false;
  while (pos < size) {
    st.signal?.throwIfAborted();
    const e = await entries.next();
    if (!e) throw prematureEof();
    const name = checkName(e);
    const suffix = name.startsWith(`${ref}/`) ? name.slice(ref.length + 1) : null;
    if (suffix === null) throw invalidXva(`expected a chunk of ${ref}, found ${name}`);
    if (!DIGITS8.test(suffix)) throw invalidXva(`member ${name} is not named ${ref}/NNNNNNNN`);
    const counter = Number(suffix);
    if (counter <= lastCounter)
      throw invalidXva(`chunk ${name} out of order (after ${ref}/${String(lastCounter).padStart(8, '0')})`);
    const len = e.header.size ?? 0;
    if (len > CHUNK_SIZE) throw invalidXva(`chunk ${name} is ${len} bytes, larger than 1 MiB`);
    if (firstLen < 0) {
      if (len === 0) throw invalidXva(`first chunk ${name} is empty`);
      firstLen = len;
    }
    // xapi writes an empty keep-alive member, then the chunk for that offset (or skips it when
    // zero): an empty member right after another that skips nothing makes no progress.
    if (len === 0 && prevEmpty && counter === lastCounter + 1)
      throw invalidXva(`empty chunk ${name} right after another empty chunk`);
    // Zero chunks left out between counters; an empty keep-alive member adds no data.
    const offset = pos + (counter - lastCounter - 1) * firstLen;
    if (offset > size || (len > 0 && offset >= size))
      throw invalidXva(`chunk ${name} at offset ${offset} is beyond the VDI's virtual size ${size}`);
    const slab = st.pool?.take();
    let data = await readBody(e, len, slab);
    if (offset + len > size) {
      // Some writers pad the last chunk to 1 MiB; zeros past the end are harmless, data is not.
      if (!isAllZero(data.subarray(size - offset)))
        throw invalidXva(`chunk ${name} at offset ${offset} runs past the VDI's virtual size ${size}`);
      data = data.subarray(0, size - offset);
    }
    await checkChunkSum(entries, name, data, st);
    if (data.length > 0) await deliver(consumer, { ref, offset, data }, slab, st.pool);
    else if (slab) st.pool?.give(slab);
    pos = offset + data.length;
    lastCounter = counter;
    prevEmpty = len === 0;
  }
  await consumer.diskDone?.(ref);
}

/** Hands a chunk to the consumer; its pooled buffer returns once the consumer is done with it. */
async function deliver(consumer: XvaConsumer, c: XvaImportChunk, slab?: Buffer, pool?: ChunkPool) {
  if (!slab || !pool) return consumer.chunk(c);
  let held = false;
  let back = false;
  const release = () => {
    if (back) return;
    back = true;
    pool.give(slab);
  };
  try {
    await consumer.chunk({
      ...c,
      hold: () => {
        held = true;
        return release;
      },
    });
  } finally {
    if (!held) release();
  }
}

/** Reads and verifies the checksum member that follows data member `name`. */
async function checkChunkSum(entries: Entries, name: string, data: Buffer, st: DiskState): Promise<void> {
  const c = await entries.next();
  if (!c) throw prematureEof();
  const cname = checkName(c);
  const ext = cname.endsWith(XXHASH_EXT) ? XXHASH_EXT : cname.endsWith(SHA1_EXT) ? SHA1_EXT : null;
  if (ext === null) {
    // export_vsn 0 streams carried no inline checksums; since then one follows every chunk.
    if (st.vsn >= 1) throw importError(`Found unsupported checksum file: ${cname}`);
    entries.pushBack(c);
    st.table.set(name, sha1Hex(data));
    return;
  }
  if (cname !== name + ext) throw invalidXva(`checksum member ${cname} does not follow its chunk (${name})`);
  const size = c.header.size ?? 0;
  if (size > MAX_CHECKSUM_MEMBER) throw invalidXva(`checksum member ${cname} is ${size} bytes`);
  const stored = (await readBody(c, size)).toString('latin1');
  const computed = ext === XXHASH_EXT ? xxh64Hex(data) : sha1Hex(data);
  if (st.vsn < 2) st.table.set(name, computed);
  if (st.vsn >= 1 && stored !== computed) {
    st.failures.push(name);
    if (!st.force) throw checksumsFailed();
  }
}

/** The export_vsn < 2 trailing member: an XML-RPC struct of member name → checksum. */
async function checkTrailingTable(entries: Entries, st: DiskState): Promise<void> {
  const e = await entries.next();
  if (!e) throw prematureEof();
  checkName(e);
  const size = e.header.size ?? 0;
  if (size > MAX_CHECKSUM_TABLE) throw invalidXva(`checksum table ${e.header.name} is ${size} bytes`);
  const xml = (await readBody(e, size)).toString('utf8');
  let expected: Map<string, string>;
  try {
    const v = parseValueFragment(xml.trim(), { maxDepth: 8, maxElements: 50_000_000 });
    if (v.t !== 'struct') throw new Error('not a struct');
    expected = new Map([...v.v].map(([k, x]) => [k, x.t === 'string' ? x.v : '']));
  } catch (err) {
    throw importError(`checksum table is not an XML-RPC map: ${(err as Error).message}`);
  }
  for (const [name, sum] of st.table)
    if (expected.get(name) !== sum) {
      st.failures.push(name);
      if (!st.force) throw checksumsFailed();
    }
}

async function readFirstMember(entries: Entries, maxOva: number): Promise<string> {
  const e = await entries.next();
  if (!e) throw prematureEof();
  const name = e.header.name;
  if (name !== OVA_XML) {
    // A tarred legacy export directory: <dir>/ova.xml (<appliance>) and <dir>/<disk>/chunk-N.gz.
    if (/(^|\/)chunk-\d+\.gz$/.test(name)) throw legacyFormat();
    if (/\/ova\.xml$/.test(name) && (e.header.size ?? 0) <= maxOva) {
      const xml = (await readBody(e, e.header.size ?? 0)).toString('utf8');
      if (isLegacyAppliance(xml)) throw legacyFormat();
    }
    throw unexpectedFile(OVA_XML, name);
  }
  const size = e.header.size ?? 0;
  if (size > maxOva) throw importError(`ova.xml is ${size} bytes, more than the ${maxOva} accepted`);
  return (await readBody(e, size)).toString('utf8');
}

/** Opens the (possibly compressed) upload as a tar entry iterator. */
async function openArchive(input: AsyncIterable<Uint8Array>, signal?: AbortSignal) {
  const { head, stream } = await peek(input, PEEK);
  if (head.length === 0) throw prematureEof();
  const compression = detectCompression(head);
  // Someone uploading the legacy export's ova.xml itself.
  if (compression === 'none' && isLegacyAppliance(head.toString('latin1'))) throw legacyFormat();
  const plain = decompressStream(stream, compression, signal);
  // allowUnknownFormat: xapi writes V7 headers (no "ustar" magic), which tar-stream refuses by default.
  const extract = tar.extract({ allowUnknownFormat: true } as Parameters<typeof tar.extract>[0]);
  const piping = pipeline(plain, extract, { signal }).catch((e) => {
    extract.destroy(e);
  });
  const close = async () => {
    extract.destroy();
    plain.destroy();
    await piping;
  };
  const it = extract[Symbol.asyncIterator]() as AsyncIterator<Entry>;
  return { compression, entries: new Entries(it), close };
}

async function withArchive<T>(
  input: AsyncIterable<Uint8Array>,
  signal: AbortSignal | undefined,
  f: (a: Awaited<ReturnType<typeof openArchive>>) => Promise<T>,
): Promise<T> {
  const a = await openArchive(input, signal);
  try {
    return await f(a);
  } catch (e) {
    throw importFailure(e);
  } finally {
    await a.close();
  }
}

/** Reads a whole XVA upload, handing ova.xml and then each disk's verified chunks to `consumer`. */
export async function readXva(
  input: AsyncIterable<Uint8Array>,
  consumer: XvaConsumer,
  opts: XvaReadOptions = {},
): Promise<XvaReadResult> {
  await loadXxhash();
  try {
    return await withArchive(input, opts.signal, async ({ compression, entries }) => {
      const xml = await readFirstMember(entries, opts.maxOvaXmlBytes ?? 256 * 1024 * 1024);
      const header = decodeOvaXml(xml);
      const chosen = (await consumer.metadata?.({ header, xml, compression })) ?? disksOfOva(header);
      const disks = [...chosen].sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
      for (const d of disks) {
        checkRef(d.ref);
        if (!Number.isSafeInteger(d.virtualSize) || d.virtualSize < 0)
          throw invalidXva(`VDI ${d.ref} has virtual size ${d.virtualSize}`);
      }
      const st: DiskState = {
        vsn: header.version.export_vsn,
        force: !!opts.force,
        failures: [],
        table: new Map(),
        signal: opts.signal,
        pool: opts.reuseBuffers ? new ChunkPool() : undefined,
      };
      for (const d of disks) await readDisk(entries, d, st, consumer);
      if (st.vsn < 2 && disks.length > 0) await checkTrailingTable(entries, st);
      return { header, xml, compression, checksumFailures: st.failures };
    });
  } catch (e) {
    throw importFailure(e);
  }
}

/**
 * Reads the single-VDI tar of /import_raw_vdi?format=tar (§5.8): chunks named `<prefix>/NNNNNNNN`
 * with inline checksums, no ova.xml.
 */
export async function readVdiTar(
  input: AsyncIterable<Uint8Array>,
  disk: { virtualSize: number; prefix?: string },
  consumer: Pick<XvaConsumer, 'chunk'>,
  opts: Omit<XvaReadOptions, 'maxOvaXmlBytes'> = {},
): Promise<{ compression: XvaCompression; checksumFailures: string[] }> {
  await loadXxhash();
  try {
    return await withArchive(input, opts.signal, async ({ compression, entries }) => {
      const st: DiskState = {
        vsn: 2,
        force: !!opts.force,
        failures: [],
        table: new Map(),
        signal: opts.signal,
        pool: opts.reuseBuffers ? new ChunkPool() : undefined,
      };
      await readDisk(entries, { ref: disk.prefix ?? 'vdi', virtualSize: disk.virtualSize }, st, consumer);
      return { compression, checksumFailures: st.failures };
    });
  } catch (e) {
    throw importFailure(e);
  }
}
