// Tar headers exactly as xapi writes them: ocaml-tar's Header.make defaults (mode 0400, uid/gid 0,
// mtime 0 unless given, no user/group names) marshalled at its default V7 compatibility level
// (no "ustar" magic, typeflag NUL, numeric fields zero-padded octal ended by NUL, checksum as
// 7 octal digits + NUL). Hand-written rather than tar-stream's ustar pack because the bytes are
// meant to match xapi's and the header is 512 fixed bytes.

export const BLOCK = 512;
const MAX_NAME = 100;

function putOctal(buf: Buffer, off: number, width: number, value: number): void {
  const s = value.toString(8).padStart(width - 1, '0');
  if (s.length > width - 1) throw new RangeError(`tar field overflow: ${value}`);
  buf.write(s, off, 'latin1');
  buf[off + width - 1] = 0;
}

/** A 512-byte V7 header for a regular file `name` of `size` bytes. */
export function tarHeader(name: string, size: number, mtime = 0): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  if (nameBytes.length > MAX_NAME) throw new RangeError(`tar member name too long: ${name}`);
  const h = Buffer.alloc(BLOCK);
  nameBytes.copy(h, 0);
  putOctal(h, 100, 8, 0o400);
  putOctal(h, 108, 8, 0);
  putOctal(h, 116, 8, 0);
  putOctal(h, 124, 12, size);
  putOctal(h, 136, 12, Math.floor(mtime));
  // Checksum: sum of all bytes with the checksum field counted as eight spaces.
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i];
  putOctal(h, 148, 8, sum);
  // typeflag (156) stays NUL: a regular file at the V7 level.
  return h;
}

/** Zero bytes that round `size` up to a whole number of blocks. */
export function paddingLength(size: number): number {
  const r = size % BLOCK;
  return r === 0 ? 0 : BLOCK - r;
}

/** The end-of-archive marker: two zero blocks. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);
