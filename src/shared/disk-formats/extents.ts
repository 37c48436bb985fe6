// Extent arithmetic for sparse disk streams: the writers take a list of allocated extents (the
// rest reads as zeros), differential exports take the extents that changed since a base.
// Pure functions on sorted, non-overlapping, non-empty half-open byte ranges.

/** A byte range [offset, offset + length) of a virtual disk. */
export interface Extent {
  offset: number;
  length: number;
}

/** Sorts, drops empty ranges, merges overlapping and touching ranges, clips to [0, size). */
export function normalizeExtents(extents: readonly Extent[], size = Number.MAX_SAFE_INTEGER): Extent[] {
  const sorted = extents
    .map((e) => ({ offset: Math.max(0, e.offset), end: Math.min(size, e.offset + e.length) }))
    .filter((e) => e.end > e.offset)
    .sort((a, b) => a.offset - b.offset);
  const out: Extent[] = [];
  let cur: { offset: number; end: number } | undefined;
  for (const e of sorted) {
    if (cur && e.offset <= cur.end) cur.end = Math.max(cur.end, e.end);
    else {
      if (cur) out.push({ offset: cur.offset, length: cur.end - cur.offset });
      cur = { ...e };
    }
  }
  if (cur) out.push({ offset: cur.offset, length: cur.end - cur.offset });
  return out;
}

/** Every byte in any of the lists. */
export function unionExtents(...lists: readonly (readonly Extent[])[]): Extent[] {
  return normalizeExtents(lists.flat());
}

/** Bytes of `a` that are not in `b`. */
export function subtractExtents(a: readonly Extent[], b: readonly Extent[]): Extent[] {
  const left = normalizeExtents(a);
  const right = normalizeExtents(b);
  const out: Extent[] = [];
  let j = 0;
  for (const e of left) {
    let start = e.offset;
    const end = e.offset + e.length;
    while (j < right.length && right[j].offset + right[j].length <= start) j++;
    let k = j;
    while (k < right.length && right[k].offset < end) {
      if (right[k].offset > start) out.push({ offset: start, length: right[k].offset - start });
      start = Math.max(start, right[k].offset + right[k].length);
      k++;
    }
    if (start < end) out.push({ offset: start, length: end - start });
  }
  return out;
}

/**
 * The indexes of the `blockSize` blocks of a `size`-byte disk that any extent touches, ascending.
 * A block partly covered counts whole: the formats allocate whole blocks/clusters.
 */
export function touchedBlocks(extents: readonly Extent[], blockSize: number, size: number): number[] {
  const out: number[] = [];
  for (const e of normalizeExtents(extents, size)) {
    const first = Math.floor(e.offset / blockSize);
    const last = Math.floor((e.offset + e.length - 1) / blockSize);
    for (let b = out.length && out[out.length - 1] >= first ? out[out.length - 1] + 1 : first; b <= last; b++)
      out.push(b);
  }
  return out;
}

/**
 * The extents marked in a changed-block bitmap (`VDI.list_changed_blocks`, decoded from base64):
 * bit i covers bytes [i·granularity, (i+1)·granularity). Bit order is xapi's: its clients read the
 * bitmap with Python's `bitstring.BitArray`, most significant bit of byte 0 first, so bit i is
 * `byte[i >> 3] & (0x80 >> (i & 7))`. QEMU's own dirty-bitmap serialization is least significant
 * bit first (`bitOrder: 'lsb'`): whoever turns a QEMU bitmap into list_changed_blocks must convert.
 */
export function extentsFromBitmap(
  bitmap: Uint8Array,
  granularity: number,
  size: number,
  bitOrder: 'msb' | 'lsb' = 'msb',
): Extent[] {
  const out: Extent[] = [];
  const bits = Math.min(bitmap.length * 8, Math.ceil(size / granularity));
  const isSet =
    bitOrder === 'msb'
      ? (i: number) => (bitmap[i >> 3] & (0x80 >> (i & 7))) !== 0
      : (i: number) => (bitmap[i >> 3] & (1 << (i & 7))) !== 0;
  let runStart = -1;
  for (let i = 0; i <= bits; i++) {
    const set = i < bits && isSet(i);
    if (set && runStart < 0) runStart = i;
    else if (!set && runStart >= 0) {
      out.push({ offset: runStart * granularity, length: (i - runStart) * granularity });
      runStart = -1;
    }
  }
  return normalizeExtents(out, size);
}

/**
 * The extents a differential export must carry (xapi's vhd-tool rule for `base=`): the layers on
 * the path from the common ancestor to the exported disk changed what they allocate, and the
 * layers on the path from the common ancestor to the base changed what the base reads; both must
 * be re-sent (the latter to revert the base's own changes). Each argument lists one allocation map
 * per layer; disks without layers pass their dirty extents (e.g. a CBT bitmap) as one map.
 */
export function changedExtents(
  exportedOnly: readonly (readonly Extent[])[],
  baseOnly: readonly (readonly Extent[])[] = [],
): Extent[] {
  return unionExtents(...exportedOnly, ...baseOnly);
}

/** Total bytes in a normalized extent list. */
export const extentBytes = (extents: readonly Extent[]): number => extents.reduce((n, e) => n + e.length, 0);
