// Reads a VHD from a stream (an import's HTTP body) front to back and yields the data it holds,
// validating every structure before trusting it, as xapi's vhd-tool does on `serve`:
//  - dynamic/differencing: footer copy (cookie, version, checksum, type, size), header (cookie,
//    checksum, version, power-of-two block size, BAT offset after the header), BAT (covers the
//    virtual size; every used entry after the BAT, inside the stream length when known, blocks
//    not overlapping), then the blocks in file order, then the trailing footer, which must equal
//    the copy. Only sectors whose bitmap bit is set are yielded (unset = zeros, or the parent's
//    data for a differencing disk), so a lying bitmap cannot make us write past a block.
//  - fixed: data first, footer last; the stream length must be known (Content-Length), the data
//    is yielded as it arrives (all-zero 1 MiB pieces skipped) and the footer is checked at the
//    end, so a caller must treat a late failure as a failed import and drop what it wrote.
// Failures are XenApiErrors: IMPORT_ERROR [why], IMPORT_ERROR_PREMATURE_EOF, VDI_TOO_LARGE.
import {
  type DiskPiece,
  importError,
  isZero,
  MiB,
  roundUp,
  SECTOR,
  StreamCursor,
  vdiTooLarge,
} from './stream.js';
import {
  BAT_UNUSED,
  bitmapSize,
  DiskType,
  decodeFooter,
  decodeHeader,
  FOOTER_COOKIE,
  FOOTER_SIZE,
  HEADER_SIZE,
  MAX_VHD_SIZE,
  type VhdFooter,
  type VhdHeader,
} from './vhd-layout.js';

export interface VhdReadOptions {
  /** Total stream length (Content-Length); required for a fixed VHD, checked against when given. */
  length?: number;
  /** Largest virtual size accepted (default: 2040 GiB, xapi's max VHD size). */
  maxVirtualSize?: number;
  /** VDI reference named in VDI_TOO_LARGE. */
  vdi?: string;
}

export interface VhdImage {
  virtualSize: number;
  diskType: 'fixed' | 'dynamic' | 'differencing';
  /** Absent for a fixed disk, whose footer comes last (checked when `pieces` ends). */
  footer?: VhdFooter;
  header?: VhdHeader;
  /** The data, in stream order; consuming it reads the rest of the stream. */
  pieces: AsyncGenerator<DiskPiece>;
}

const typeName = (t: DiskType) =>
  t === DiskType.Fixed ? 'fixed' : t === DiskType.Dynamic ? 'dynamic' : 'differencing';

/** Parses the VHD's leading structures; the returned `pieces` streams the data. */
export async function readVhd(
  source: AsyncIterable<Buffer | Uint8Array>,
  opts: VhdReadOptions = {},
): Promise<VhdImage> {
  const cur = new StreamCursor(source);
  try {
    return await parseVhd(cur, opts);
  } catch (e) {
    await cur.close(); // release the body: nobody will consume `pieces`
    throw e;
  }
}

async function parseVhd(cur: StreamCursor, opts: VhdReadOptions): Promise<VhdImage> {
  const max = opts.maxVirtualSize ?? MAX_VHD_SIZE;
  const checkSize = (size: number) => {
    if (size > max) throw vdiTooLarge(opts.vdi ?? '', max);
  };
  const first = await cur.read(FOOTER_SIZE);
  if (first.toString('latin1', 0, 8) !== FOOTER_COOKIE) {
    // No footer copy in front: a fixed disk (data, then the footer) or not a VHD at all.
    const length = opts.length;
    if (length === undefined)
      throw importError('not a dynamic VHD, and a fixed VHD can only be read with a known length');
    if (length < 2 * FOOTER_SIZE || length % SECTOR !== 0)
      throw importError(`not a VHD: length ${length} is not a multiple of 512 with data and a footer`);
    checkSize(length - FOOTER_SIZE);
    const virtualSize = length - FOOTER_SIZE;
    return {
      virtualSize,
      diskType: 'fixed',
      pieces: fixedPieces(cur, first, virtualSize),
    };
  }
  const footer = decodeFooter(first);
  checkSize(footer.currentSize);
  if (footer.diskType === DiskType.Fixed)
    throw importError('VHD footer at the start of the stream says "fixed": not a valid fixed or dynamic VHD');
  if (opts.length !== undefined && opts.length % SECTOR !== 0)
    throw importError(`VHD length ${opts.length} is not a multiple of 512`);
  if (!Number.isSafeInteger(footer.dataOffset) || footer.dataOffset < FOOTER_SIZE)
    throw importError(`VHD header offset ${footer.dataOffset} is not after the footer copy`);
  await cur.seek(footer.dataOffset, 'VHD header');
  const header = decodeHeader(await cur.read(HEADER_SIZE));
  const blockSize = header.blockSize;
  const needed = Math.ceil(footer.currentSize / blockSize);
  if (header.maxTableEntries < needed)
    throw importError(
      `VHD BAT has ${header.maxTableEntries} entries but the virtual size ${footer.currentSize} needs ${needed}`,
    );
  // Some writers size the BAT generously; bound it so a lying header cannot make us buffer gigabytes.
  const entries = header.maxTableEntries;
  if (entries > Math.ceil(max / blockSize) + 1024)
    throw importError(`VHD BAT of ${entries} entries is larger than any accepted disk needs`);
  if (header.tableOffset < footer.dataOffset + HEADER_SIZE)
    throw importError(`VHD BAT offset ${header.tableOffset} overlaps the header`);
  await cur.seek(header.tableOffset, 'VHD BAT');
  const batBytes = roundUp(entries * 4, SECTOR);
  const bat = await cur.read(entries * 4);
  const batEnd = header.tableOffset + batBytes;
  const bmpBytes = bitmapSize(blockSize);
  const span = bmpBytes + blockSize;
  const used: { block: number; offset: number }[] = [];
  for (let i = 0; i < entries; i++) {
    const e = bat.readUInt32BE(i * 4);
    if (e === BAT_UNUSED) continue;
    if (i >= needed) throw importError(`VHD BAT entry ${i} lies beyond the virtual size`);
    const offset = e * SECTOR;
    if (offset < batEnd) throw importError(`VHD BAT entry ${i} points at ${offset}, inside the metadata`);
    if (opts.length !== undefined && offset + span > opts.length - FOOTER_SIZE)
      throw importError(`VHD BAT entry ${i} points at ${offset}, beyond the end of the image`);
    used.push({ block: i, offset });
  }
  used.sort((a, b) => a.offset - b.offset);
  for (let k = 1; k < used.length; k++)
    if (used[k].offset < used[k - 1].offset + span)
      throw importError(`VHD blocks ${used[k - 1].block} and ${used[k].block} overlap`);
  return {
    virtualSize: footer.currentSize,
    diskType: typeName(footer.diskType),
    footer,
    header,
    pieces: dynamicPieces(cur, first, footer.currentSize, blockSize, bmpBytes, used, opts.length),
  };
}

async function* dynamicPieces(
  cur: StreamCursor,
  footerCopy: Buffer,
  virtualSize: number,
  blockSize: number,
  bmpBytes: number,
  used: { block: number; offset: number }[],
  length: number | undefined,
): AsyncGenerator<DiskPiece> {
  try {
    for (const { block, offset } of used) {
      await cur.seek(offset, `VHD block ${block}`);
      const bitmap = await cur.read(bmpBytes);
      const data = await cur.read(blockSize);
      const base = block * blockSize;
      const sectors = Math.min(blockSize, virtualSize - base) / SECTOR;
      // Yield each run of set bits as one piece (slices of `data`: no copy).
      let run = -1;
      for (let s = 0; s <= sectors; s++) {
        const set = s < sectors && (bitmap[s >> 3] & (0x80 >> (s & 7))) !== 0;
        if (set && run < 0) run = s;
        else if (!set && run >= 0) {
          yield { offset: base + run * SECTOR, data: data.subarray(run * SECTOR, s * SECTOR) };
          run = -1;
        }
      }
    }
    let trailer: Buffer;
    if (length !== undefined) {
      await cur.seek(length - FOOTER_SIZE, 'VHD footer');
      trailer = await cur.read(FOOTER_SIZE);
      const extra = await cur.drain(0);
      if (extra.count > 0) throw importError(`${extra.count} bytes after the VHD footer`);
    } else {
      const { tail, count } = await cur.drain(FOOTER_SIZE);
      if (count < FOOTER_SIZE) throw importError('VHD ends without its footer');
      trailer = tail;
    }
    if (!trailer.equals(footerCopy)) {
      decodeFooter(trailer); // names the defect if the trailing footer is itself invalid
      throw importError('VHD trailing footer differs from the footer copy at the start');
    }
  } finally {
    await cur.close();
  }
}

async function* fixedPieces(
  cur: StreamCursor,
  first: Buffer,
  virtualSize: number,
): AsyncGenerator<DiskPiece> {
  try {
    const piece = MiB;
    let pos = 0;
    let pending: Buffer | undefined = first;
    while (pos < virtualSize) {
      const n = Math.min(piece, virtualSize - pos);
      let data: Buffer;
      if (pending) {
        data = Buffer.concat([pending, await cur.read(n - pending.length)]);
        pending = undefined;
      } else data = await cur.read(n);
      if (!isZero(data)) yield { offset: pos, data };
      pos += n;
    }
    const footer = decodeFooter(await cur.read(FOOTER_SIZE));
    if (footer.diskType !== DiskType.Fixed) throw importError('VHD footer does not describe a fixed disk');
    if (footer.currentSize !== virtualSize)
      throw importError(
        `fixed VHD footer says ${footer.currentSize} bytes but the image holds ${virtualSize}`,
      );
    const extra = await cur.drain(0);
    if (extra.count > 0) throw importError(`${extra.count} bytes after the VHD footer`);
  } finally {
    await cur.close();
  }
}
