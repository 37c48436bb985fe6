// Reads the persistent dirty bitmaps of a qcow2 image (QEMU's docs/interop/qcow2.txt, "Bitmaps
// extension"): header → bitmap directory → bitmap table → data clusters. Pure: the image is
// reached through a `read(offset, length)` function, so it works on a file, a buffer or a test
// fixture alike. Byte-exact format code (CBT answers must never under-report a change), checked
// in tests against qemu-nbd + nbdinfo's `qemu:dirty-bitmap:` block status.
//
// Only a consistent bitmap is returned: one flagged `in_use` (open read-write by a QEMU, or left
// so by a crash) or an image whose autoclear "bitmaps" bit is clear (last written by a program
// that did not know bitmaps) is refused, never read as "nothing changed".

/** Reads exactly `length` bytes at `offset` (fewer only past the end of the image). */
export type ReadAt = (offset: number, length: number) => Promise<Uint8Array>;

export interface Qcow2BitmapEntry {
  name: string;
  /** Bytes of guest data one bit covers. */
  granularity: number;
  /** Set while a QEMU has the image open read-write, or after it crashed: content not valid. */
  inUse: boolean;
  /** Enabled: QEMU tracks writes into it when it opens the image. */
  auto: boolean;
  tableOffset: number;
  tableEntries: number;
}

export interface Qcow2Bitmaps {
  clusterSize: number;
  virtualSize: number;
  /** False when the extension is absent or invalidated (autoclear bit clear). */
  valid: boolean;
  bitmaps: Qcow2BitmapEntry[];
}

const MAGIC = 0x514649fb;
const BITMAPS_EXT = 0x23852875;
const FLAG_IN_USE = 1;
const FLAG_AUTO = 2;
/** Bits 9..55 of a bitmap table entry: the data cluster's host offset. */
const OFFSET_MASK = 0x00fffffffffffe00n;

export class Qcow2BitmapError extends Error {}

const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

async function readFull(read: ReadAt, offset: number, length: number, what: string): Promise<DataView> {
  const b = await read(offset, length);
  if (b.byteLength < length) throw new Qcow2BitmapError(`qcow2: truncated ${what} at ${offset}`);
  return view(b);
}

const u64 = (v: DataView, at: number) => {
  const n = v.getBigUint64(at);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new Qcow2BitmapError('qcow2: offset out of range');
  return Number(n);
};

/** The image's bitmap directory (no bitmap data read). */
export async function listQcow2Bitmaps(read: ReadAt): Promise<Qcow2Bitmaps> {
  const h = await readFull(read, 0, 104, 'header');
  if (h.getUint32(0) !== MAGIC) throw new Qcow2BitmapError('not a qcow2 image');
  const version = h.getUint32(4);
  const clusterBits = h.getUint32(20);
  if (clusterBits < 9 || clusterBits > 21) throw new Qcow2BitmapError('qcow2: bad cluster_bits');
  const out: Qcow2Bitmaps = {
    clusterSize: 2 ** clusterBits,
    virtualSize: u64(h, 24),
    valid: false,
    bitmaps: [],
  };
  if (version < 3) return out;
  const autoclear = h.getBigUint64(88);
  const headerLength = h.getUint32(100);
  // Header extensions follow the header, each padded to 8 bytes, up to the end marker (type 0);
  // they must lie within the first cluster.
  let at = headerLength;
  let ext: { dirSize: number; dirOffset: number; count: number } | undefined;
  while (at + 8 <= out.clusterSize) {
    const e = await readFull(read, at, 8, 'header extension');
    const type = e.getUint32(0);
    const len = e.getUint32(4);
    if (type === 0) break;
    if (type === BITMAPS_EXT) {
      if (len < 24) throw new Qcow2BitmapError('qcow2: short bitmaps extension');
      const d = await readFull(read, at + 8, 24, 'bitmaps extension');
      ext = { count: d.getUint32(0), dirSize: u64(d, 8), dirOffset: u64(d, 16) };
    }
    at += 8 + Math.ceil(len / 8) * 8;
  }
  if (!ext || (autoclear & 1n) === 0n) return out;
  if (ext.dirSize > 64 * 1024 * 1024) throw new Qcow2BitmapError('qcow2: bitmap directory too large');
  const dir = await readFull(read, ext.dirOffset, ext.dirSize, 'bitmap directory');
  let p = 0;
  for (let i = 0; i < ext.count; i++) {
    if (p + 24 > ext.dirSize) throw new Qcow2BitmapError('qcow2: bitmap directory overrun');
    const flags = dir.getUint32(p + 12);
    const type = dir.getUint8(p + 16);
    const granularityBits = dir.getUint8(p + 17);
    const nameSize = dir.getUint16(p + 18);
    const extra = dir.getUint32(p + 20);
    const nameAt = p + 24 + extra;
    if (nameAt + nameSize > ext.dirSize) throw new Qcow2BitmapError('qcow2: bitmap name overrun');
    if (type !== 1 || granularityBits < 9 || granularityBits > 31)
      throw new Qcow2BitmapError(
        `qcow2: unsupported bitmap (type ${type}, granularity 2^${granularityBits})`,
      );
    const name = new TextDecoder().decode(new Uint8Array(dir.buffer, dir.byteOffset + nameAt, nameSize));
    out.bitmaps.push({
      name,
      granularity: 2 ** granularityBits,
      inUse: (flags & FLAG_IN_USE) !== 0,
      auto: (flags & FLAG_AUTO) !== 0,
      tableOffset: u64(dir, p),
      tableEntries: dir.getUint32(p + 8),
    });
    p = Math.ceil((nameAt + nameSize) / 8) * 8;
  }
  out.valid = true;
  return out;
}

/**
 * One bitmap's bits, one per `granularity` bytes of guest data: bit i is byte i>>3, bit i&7
 * counted from the least significant (QEMU's on-disk order). Length ceil(bits / 8).
 */
export async function readQcow2Bitmap(read: ReadAt, img: Qcow2Bitmaps, name: string): Promise<Uint8Array> {
  if (!img.valid) throw new Qcow2BitmapError('qcow2: the image has no valid bitmaps');
  const b = img.bitmaps.find((x) => x.name === name);
  if (!b) throw new Qcow2BitmapError(`qcow2: no bitmap ${name}`);
  if (b.inUse) throw new Qcow2BitmapError(`qcow2: bitmap ${name} is in use or inconsistent`);
  const bits = Math.ceil(img.virtualSize / b.granularity);
  const bytes = Math.ceil(bits / 8);
  const perCluster = img.clusterSize; // bytes of bitmap data per data cluster
  if (b.tableEntries !== Math.ceil(bytes / perCluster))
    throw new Qcow2BitmapError(`qcow2: bitmap ${name} table size does not match the image size`);
  const out = new Uint8Array(bytes);
  const table = await readFull(read, b.tableOffset, b.tableEntries * 8, 'bitmap table');
  for (let i = 0; i < b.tableEntries; i++) {
    const entry = table.getBigUint64(i * 8);
    const start = i * perCluster;
    const len = Math.min(perCluster, bytes - start);
    const off = entry & OFFSET_MASK;
    if (off === 0n) {
      if (entry & 1n) out.fill(0xff, start, start + len); // "all ones" cluster
      continue;
    }
    const data = await read(Number(off), len);
    if (data.byteLength < len) throw new Qcow2BitmapError(`qcow2: truncated bitmap data of ${name}`);
    out.set(data.subarray(0, len), start);
  }
  // Bits past the end of the disk are not changes.
  const tail = bits % 8;
  if (tail) out[bytes - 1] &= (1 << tail) - 1;
  return out;
}
