// Read buffers recycled once the bytes are written out. Fresh memory costs a page fault per page
// on every read (very costly on a virtualized host: reading 1 GiB over NBD into new 2 MiB buffers
// cost the manager ~3x the CPU of reading into reused ones), so an export reads into a few
// recycled buffers. The sink that writes a chunk out calls `written(chunk)` when the chunk's
// bytes are no longer needed (e.g. a socket write's callback); only the very Buffer object a
// pooled read returned is recycled, so a writer that slices or copies a chunk simply lets the
// buffer be collected, and a sink that never calls `written` only loses the reuse.
//
//   const pool = new ReadPool(2 * MiB);
//   const read = pool.reader((offset, target) => client.readInto(offset, target));
//   … res.write(chunk, (err) => { if (!err) written(chunk); }) …

const release = new WeakMap<Uint8Array, () => void>();

/** Recycles `chunk` if a ReadPool lent it: its bytes have been written out. */
export function written(chunk: Uint8Array): void {
  const r = release.get(chunk);
  if (!r) return;
  release.delete(chunk);
  r();
}

export class ReadPool {
  private readonly free: Buffer[] = [];

  /** Buffers of `slab` bytes; reads larger than that get a buffer of their own. */
  constructor(
    private readonly slab: number,
    private readonly keep = 16,
  ) {}

  /** `read(offset, length)` over `readInto`, into a recycled buffer when the length allows. */
  reader(
    readInto: (offset: number, target: Buffer) => Promise<Buffer>,
  ): (offset: number, length: number) => Promise<Buffer> {
    return async (offset, length) => {
      if (length > this.slab) return readInto(offset, Buffer.allocUnsafeSlow(length));
      const slab = this.free.pop() ?? Buffer.allocUnsafeSlow(this.slab);
      const view = slab.subarray(0, length);
      try {
        await readInto(offset, view);
      } catch (e) {
        this.give(slab);
        throw e;
      }
      release.set(view, () => this.give(slab));
      return view;
    };
  }

  private give(slab: Buffer) {
    if (this.free.length < this.keep) this.free.push(slab);
  }
}
