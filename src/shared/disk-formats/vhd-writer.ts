// Streams a sparse virtual disk as a dynamic VHD (or, for a differential export, a differencing
// VHD whose parent is the base), emitting only the 2 MiB blocks that the source's extents touch.
// The layout is fixed in advance, so the output size is known before the first byte (Content-Length):
//   0     footer copy            512     dynamic header (cxsparse)
//   1536  parent locator data (differencing only; otherwise zeros)
//   2048  BAT (4 bytes per block, padded to a sector)
//   ...   for each allocated block in ascending order: sector bitmap (all ones) + block data
//   end   footer
// This is the layout of xapi's vhd-tool `stream` (footer, header, a free sector, BAT at 2048).
import { randomBytes } from 'node:crypto';
import { touchedBlocks } from './extents.js';
import { type DiskSource, readAhead, roundUp, SECTOR, vdiTooLarge } from './stream.js';
import {
  bitmapSize,
  CREATOR_APP,
  DEFAULT_BLOCK_SIZE,
  DiskType,
  encodeFooter,
  encodeHeader,
  FOOTER_SIZE,
  MAX_VHD_SIZE,
  vhdTimestamp,
} from './vhd-layout.js';

export interface VhdParent {
  /** The base's 16-byte unique id (Berth: the base VDI's uuid bytes). */
  uniqueId: Buffer;
  /** The parent's file name as recorded in the header and the MacX `file://./` locator. */
  name: string;
  /** Parent modification time in VHD seconds (since 2000-01-01). */
  timestamp?: number;
}

export interface VhdWriteOptions {
  /** Block size, a power of two (default 2 MiB, what xapi and QEMU use). */
  blockSize?: number;
  /** 16-byte unique id of the new image (default random). */
  uniqueId?: Buffer;
  timestamp?: Date;
  /** Writes a differencing VHD: blocks not emitted read from this parent. */
  parent?: VhdParent;
  /** VDI reference for VDI_TOO_LARGE. */
  vdi?: string;
}

const TABLE_OFFSET = 2048;
const LOCATOR_OFFSET = 1536;

export interface VhdPlan {
  currentSize: number;
  blockSize: number;
  blocks: number[];
  batBytes: number;
  firstBlockOffset: number;
  /** Total bytes the writer will emit. */
  size: number;
}

/** Computes the layout: which blocks are written where, and the total size. */
export function planVhd(
  source: Pick<DiskSource, 'virtualSize' | 'extents'>,
  opts: VhdWriteOptions = {},
): VhdPlan {
  const blockSize = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
  if (!Number.isSafeInteger(source.virtualSize) || source.virtualSize <= 0)
    throw new RangeError(`virtual size ${source.virtualSize} is not a positive integer`);
  if (source.virtualSize > MAX_VHD_SIZE) throw vdiTooLarge(opts.vdi ?? '', MAX_VHD_SIZE);
  const currentSize = roundUp(source.virtualSize, SECTOR);
  const entries = Math.ceil(currentSize / blockSize);
  const batBytes = roundUp(entries * 4, SECTOR);
  const firstBlockOffset = TABLE_OFFSET + batBytes;
  const blocks = touchedBlocks(source.extents, blockSize, source.virtualSize);
  const size = firstBlockOffset + blocks.length * (bitmapSize(blockSize) + blockSize) + FOOTER_SIZE;
  return { currentSize, blockSize, blocks, batBytes, firstBlockOffset, size };
}

/** The VHD image of `source`, as a stream of Buffers (pull-based: wrap in Readable.from). */
export async function* writeVhd(source: DiskSource, opts: VhdWriteOptions = {}): AsyncGenerator<Buffer> {
  const plan = planVhd(source, opts);
  const { blockSize, currentSize } = plan;
  const parent = opts.parent;
  const footer = encodeFooter({
    dataOffset: FOOTER_SIZE,
    timestamp: vhdTimestamp(opts.timestamp),
    creatorApp: CREATOR_APP,
    originalSize: currentSize,
    currentSize,
    diskType: parent ? DiskType.Differencing : DiskType.Dynamic,
    uniqueId: opts.uniqueId ?? randomBytes(16),
  });
  const locatorData = parent ? Buffer.from(`file://./${parent.name}`, 'utf8') : undefined;
  if (locatorData && locatorData.length > TABLE_OFFSET - LOCATOR_OFFSET)
    throw new RangeError('parent name too long for the parent locator');
  const header = encodeHeader({
    tableOffset: TABLE_OFFSET,
    maxTableEntries: Math.ceil(currentSize / blockSize),
    blockSize,
    parentUniqueId: parent?.uniqueId ?? Buffer.alloc(16),
    parentTimestamp: parent?.timestamp ?? 0,
    parentName: parent?.name ?? '',
    parentLocators: locatorData
      ? [{ code: 'MacX', space: SECTOR, length: locatorData.length, offset: LOCATOR_OFFSET }]
      : [],
  });
  const bitmapBytes = bitmapSize(blockSize);
  const bat = Buffer.alloc(plan.batBytes, 0xff); // every entry BAT_UNUSED until allocated
  plan.blocks.forEach((b, i) => {
    bat.writeUInt32BE((plan.firstBlockOffset + i * (bitmapBytes + blockSize)) / SECTOR, b * 4);
  });
  const locatorSector = Buffer.alloc(TABLE_OFFSET - LOCATOR_OFFSET);
  locatorData?.copy(locatorSector);
  yield Buffer.concat([footer, header, locatorSector, bat]);

  // Every sector of an emitted block holds the block's data (zeros included): all bits set.
  const bitmap = Buffer.alloc(bitmapBytes, 0xff);
  const ranges = plan.blocks.map((b) => ({
    offset: b * blockSize,
    length: Math.min(blockSize, source.virtualSize - b * blockSize),
  }));
  for await (const { data } of readAhead(source, ranges)) {
    yield bitmap;
    yield data;
    if (data.length < blockSize) yield Buffer.alloc(blockSize - data.length);
  }
  yield footer;
}
