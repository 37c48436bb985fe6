// The VHD on-disk structures (Microsoft "Virtual Hard Disk Image Format Specification" v1.0):
// the 512-byte `conectix` footer, the 1024-byte `cxsparse` dynamic-disk header, their one's
// complement checksums and the CHS geometry of the spec's appendix. Encode/decode only; the
// streaming writer and reader build on these.
import { importError, SECTOR } from './stream.js';

export const FOOTER_SIZE = 512;
export const HEADER_SIZE = 1024;
export const FOOTER_COOKIE = 'conectix';
export const HEADER_COOKIE = 'cxsparse';
export const VHD_VERSION = 0x00010000;
export const BAT_UNUSED = 0xffffffff;
export const DEFAULT_BLOCK_SIZE = 2 * 1024 * 1024;
/** xapi's Constants.max_vhd_size (2040 GiB), also the largest size QEMU's vpc driver accepts. */
export const MAX_VHD_SIZE = 2040 * 1024 * 1024 * 1024;

export enum DiskType {
  Fixed = 2,
  Dynamic = 3,
  Differencing = 4,
}

/**
 * Creator application `tap\0`, the one XenServer's blktap/vhd-util writes: QEMU's vpc driver takes
 * the disk size from `current_size` for it (for unknown creators it uses the CHS geometry, which
 * rounds most sizes down). xapi's own vhd-tool writes `caml`, which QEMU would read by geometry.
 */
export const CREATOR_APP = 'tap\0';
export const CREATOR_VERSION = 0x00010003;
/** "Wi2k" is what the spec and vhd-util use for the host OS. */
export const CREATOR_HOST_OS = 0x5769326b;

/** Seconds between 2000-01-01T00:00:00Z (the VHD epoch) and `date`. */
export const vhdTimestamp = (date = new Date()) =>
  Math.max(0, Math.floor((date.getTime() - Date.UTC(2000, 0, 1)) / 1000)) >>> 0;

/** One's complement of the byte sum of `buf` with its 4 checksum bytes at `at` taken as zero. */
export function vhdChecksum(buf: Buffer, at: number): number {
  let sum = 0;
  for (let i = 0; i < buf.length; i++) if (i < at || i >= at + 4) sum += buf[i];
  return ~sum >>> 0;
}

/** CHS geometry from the VHD spec's appendix (cylinders, heads, sectors per track). */
export function vhdGeometry(totalSectorsIn: number): { cylinders: number; heads: number; sectors: number } {
  const totalSectors = Math.min(totalSectorsIn, 65535 * 16 * 255);
  let sectorsPerTrack: number;
  let heads: number;
  let cylTimesHeads: number;
  if (totalSectors >= 65535 * 16 * 63) {
    sectorsPerTrack = 255;
    heads = 16;
    cylTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
  } else {
    sectorsPerTrack = 17;
    cylTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
    heads = Math.floor((cylTimesHeads + 1023) / 1024);
    if (heads < 4) heads = 4;
    if (cylTimesHeads >= heads * 1024 || heads > 16) {
      sectorsPerTrack = 31;
      heads = 16;
      cylTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
    }
    if (cylTimesHeads >= heads * 1024) {
      sectorsPerTrack = 63;
      heads = 16;
      cylTimesHeads = Math.floor(totalSectors / sectorsPerTrack);
    }
  }
  return { cylinders: Math.floor(cylTimesHeads / heads), heads, sectors: sectorsPerTrack };
}

export interface VhdFooter {
  dataOffset: number; // offset of the dynamic header; 2^64-1 (as -1) for a fixed disk
  timestamp: number;
  creatorApp: string;
  originalSize: number;
  currentSize: number;
  diskType: DiskType;
  uniqueId: Buffer; // 16 bytes
}

const readU64 = (b: Buffer, at: number) => {
  const v = b.readBigUInt64BE(at);
  return v === 0xffffffffffffffffn ? -1 : v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.NaN : Number(v);
};
const writeU64 = (b: Buffer, at: number, v: number) =>
  b.writeBigUInt64BE(v < 0 ? 0xffffffffffffffffn : BigInt(v), at);

export function encodeFooter(f: VhdFooter): Buffer {
  const b = Buffer.alloc(FOOTER_SIZE);
  b.write(FOOTER_COOKIE, 0, 'latin1');
  b.writeUInt32BE(2, 8); // features: the "reserved" bit the spec says is always set
  b.writeUInt32BE(VHD_VERSION, 12);
  writeU64(b, 16, f.dataOffset);
  b.writeUInt32BE(f.timestamp >>> 0, 24);
  Buffer.from(f.creatorApp.padEnd(4, '\0').slice(0, 4), 'latin1').copy(b, 28);
  b.writeUInt32BE(CREATOR_VERSION, 32);
  b.writeUInt32BE(CREATOR_HOST_OS, 36);
  writeU64(b, 40, f.originalSize);
  writeU64(b, 48, f.currentSize);
  const g = vhdGeometry(Math.floor(f.currentSize / SECTOR));
  b.writeUInt16BE(g.cylinders, 56);
  b.writeUInt8(g.heads, 58);
  b.writeUInt8(g.sectors, 59);
  b.writeUInt32BE(f.diskType, 60);
  f.uniqueId.copy(b, 68, 0, 16);
  b.writeUInt32BE(vhdChecksum(b, 64), 64);
  return b;
}

/** Decodes and validates a footer; throws IMPORT_ERROR naming what is wrong. */
export function decodeFooter(b: Buffer): VhdFooter {
  if (b.length < FOOTER_SIZE) throw importError('VHD footer truncated');
  const cookie = b.toString('latin1', 0, 8);
  if (cookie !== FOOTER_COOKIE) throw importError(`VHD footer cookie is not "${FOOTER_COOKIE}"`);
  const version = b.readUInt32BE(12);
  if (version !== VHD_VERSION) throw importError(`unsupported VHD version 0x${version.toString(16)}`);
  const stored = b.readUInt32BE(64);
  const computed = vhdChecksum(b.subarray(0, FOOTER_SIZE), 64);
  if (stored !== computed)
    throw importError(
      `VHD footer checksum mismatch: stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)}`,
    );
  const diskType = b.readUInt32BE(60);
  if (diskType !== DiskType.Fixed && diskType !== DiskType.Dynamic && diskType !== DiskType.Differencing)
    throw importError(`unsupported VHD disk type ${diskType}`);
  const currentSize = readU64(b, 48);
  if (!Number.isSafeInteger(currentSize) || currentSize <= 0 || currentSize % SECTOR !== 0)
    throw importError(`VHD virtual size ${b.readBigUInt64BE(48)} is not a positive multiple of 512`);
  return {
    dataOffset: readU64(b, 16),
    timestamp: b.readUInt32BE(24),
    creatorApp: b.toString('latin1', 28, 32),
    originalSize: readU64(b, 40),
    currentSize,
    diskType,
    uniqueId: Buffer.from(b.subarray(68, 84)),
  };
}

export interface VhdHeader {
  tableOffset: number;
  maxTableEntries: number;
  blockSize: number;
  parentUniqueId: Buffer; // 16 bytes, zero when no parent
  parentTimestamp: number;
  parentName: string;
  /** Parent locators (at most 8): platform code, data space/length in bytes, offset. */
  parentLocators: { code: string; space: number; length: number; offset: number }[];
}

export function encodeHeader(h: VhdHeader): Buffer {
  const b = Buffer.alloc(HEADER_SIZE);
  b.write(HEADER_COOKIE, 0, 'latin1');
  writeU64(b, 8, -1); // data offset: unused, all ones
  writeU64(b, 16, h.tableOffset);
  b.writeUInt32BE(VHD_VERSION, 24);
  b.writeUInt32BE(h.maxTableEntries, 28);
  b.writeUInt32BE(h.blockSize, 32);
  h.parentUniqueId.copy(b, 40, 0, 16);
  b.writeUInt32BE(h.parentTimestamp >>> 0, 56);
  // Parent unicode name: UTF-16 big endian, 512 bytes.
  const name = Buffer.from(h.parentName, 'utf16le').swap16().subarray(0, 512);
  name.copy(b, 64);
  h.parentLocators.slice(0, 8).forEach((l, i) => {
    const at = 576 + i * 24;
    b.write(l.code.padEnd(4, '\0').slice(0, 4), at, 'latin1');
    b.writeUInt32BE(Math.ceil(l.space / SECTOR), at + 4); // in sectors, as the spec says
    b.writeUInt32BE(l.length, at + 8);
    writeU64(b, at + 16, l.offset);
  });
  b.writeUInt32BE(vhdChecksum(b, 36), 36);
  return b;
}

/** Decodes and validates a dynamic-disk header; throws IMPORT_ERROR naming what is wrong. */
export function decodeHeader(b: Buffer): VhdHeader {
  if (b.toString('latin1', 0, 8) !== HEADER_COOKIE)
    throw importError(`VHD dynamic header cookie is not "${HEADER_COOKIE}"`);
  const stored = b.readUInt32BE(36);
  const computed = vhdChecksum(b.subarray(0, HEADER_SIZE), 36);
  if (stored !== computed)
    throw importError(
      `VHD header checksum mismatch: stored 0x${stored.toString(16)}, computed 0x${computed.toString(16)}`,
    );
  const version = b.readUInt32BE(24);
  if (version !== VHD_VERSION) throw importError(`unsupported VHD header version 0x${version.toString(16)}`);
  const blockSize = b.readUInt32BE(32);
  if (blockSize < SECTOR || blockSize > 256 * 1024 * 1024 || (blockSize & (blockSize - 1)) !== 0)
    throw importError(`VHD block size ${blockSize} is not a power of two between 512 B and 256 MiB`);
  const tableOffset = readU64(b, 16);
  if (!Number.isSafeInteger(tableOffset) || tableOffset < 0) throw importError('VHD BAT offset out of range');
  const parentLocators: VhdHeader['parentLocators'] = [];
  for (let i = 0; i < 8; i++) {
    const at = 576 + i * 24;
    const code = b.toString('latin1', at, at + 4);
    if (b.readUInt32BE(at) === 0) continue;
    const spaceField = b.readUInt32BE(at + 4);
    // Some writers store the space in bytes instead of sectors (xapi's vhd library notes Viridian).
    parentLocators.push({
      code,
      space: spaceField < 512 ? spaceField * SECTOR : spaceField,
      length: b.readUInt32BE(at + 8),
      offset: readU64(b, at + 16),
    });
  }
  const nameBytes = Buffer.from(b.subarray(64, 576)).swap16().toString('utf16le');
  return {
    tableOffset,
    maxTableEntries: b.readUInt32BE(28),
    blockSize,
    parentUniqueId: Buffer.from(b.subarray(40, 56)),
    parentTimestamp: b.readUInt32BE(56),
    parentName: nameBytes.replace(/\0.*$/s, ''),
    parentLocators,
  };
}

/** Bytes of a block's sector bitmap: one bit per sector, padded to whole sectors. */
export const bitmapSize = (blockSize: number) => Math.ceil(blockSize / SECTOR / 8 / SECTOR) * SECTOR;
