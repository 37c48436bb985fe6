// The bitmap VDI.list_changed_blocks answers, as xapi (SM's CBT logs) sends it: one bit per
// 64 KiB block of the disk, block i in byte i>>3 at mask 0x80>>(i&7) (most significant bit
// first, as Xen Orchestra and xapi's own cbt_bitmap.py read it), base64-encoded. Pure.

export const CBT_BLOCK = 64 * 1024;

/** Prefix of every bitmap Berth keeps for CBT in a qcow2 image (others are left alone). */
export const CBT_PREFIX = 'berth-cbt-';

/**
 * The bitmap that records the blocks written since generation `uuid` (a snapshot's uuid, or the
 * VDI's own at enable_cbt) began.
 */
export const cbtBitmapName = (uuid: string) => `${CBT_PREFIX}${uuid}`;

/** The generation a Berth CBT bitmap belongs to, or undefined for other bitmaps. */
export const cbtGeneration = (name: string) =>
  name.startsWith(CBT_PREFIX) ? name.slice(CBT_PREFIX.length) : undefined;

/**
 * Converts QEMU bits (one per `granularity` bytes, least significant bit first) covering
 * `virtualSize` bytes into xapi's 64 KiB MSB-first bitmap. A 64 KiB block is changed when any
 * granule overlapping it is dirty, so a coarser or finer granularity never hides a change.
 */
export function toXapiBitmap(qemuBits: Uint8Array, granularity: number, virtualSize: number): Buffer {
  const blocks = Math.ceil(virtualSize / CBT_BLOCK);
  const out = Buffer.alloc(Math.ceil(blocks / 8));
  const granules = Math.ceil(virtualSize / granularity);
  for (let byte = 0; byte < qemuBits.length; byte++) {
    const v = qemuBits[byte];
    if (v === 0) continue;
    for (let bit = 0; bit < 8; bit++) {
      if (!(v & (1 << bit))) continue;
      const g = byte * 8 + bit;
      if (g >= granules) break;
      const first = Math.floor((g * granularity) / CBT_BLOCK);
      const last = Math.min(blocks - 1, Math.floor(((g + 1) * granularity - 1) / CBT_BLOCK));
      for (let b = first; b <= last; b++) out[b >> 3] |= 0x80 >> (b & 7);
    }
  }
  return out;
}

/** The changed 64 KiB block numbers a list_changed_blocks answer names (for tests and tools). */
export function changedBlockIndices(base64: string): number[] {
  const buf = Buffer.from(base64, 'base64');
  const out: number[] = [];
  for (let i = 0; i < buf.length * 8; i++) if (buf[i >> 3] & (0x80 >> (i & 7))) out.push(i);
  return out;
}
