// Bytes received and not yet parsed: a queue of socket chunks from which the client takes exact
// lengths (one copy only when a piece spans chunks).

export class Inbox {
  private chunks: Buffer[] = [];
  /** Offset of the first unread byte in chunks[0]. */
  private head = 0;
  length = 0;

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.chunks.push(b);
    this.length += b.length;
  }

  /** The big-endian u32 at the front, without taking it (undefined if fewer than 4 bytes). */
  peekUInt32(): number | undefined {
    if (this.length < 4) return undefined;
    const first = this.chunks[0];
    if (first.length - this.head >= 4) return first.readUInt32BE(this.head);
    return this.copy(4, false).readUInt32BE(0);
  }

  /** Exactly `n` bytes from the front, or undefined (nothing taken) if fewer are here. */
  take(n: number): Buffer | undefined {
    if (n > this.length) return undefined;
    if (n === 0) return Buffer.alloc(0);
    const first = this.chunks[0];
    if (first.length - this.head >= n) {
      const out = first.subarray(this.head, this.head + n);
      this.advance(n);
      return out;
    }
    return this.copy(n, true);
  }

  /**
   * Copies what is left into memory of its own: the chunks pushed may be views of a read buffer
   * the socket reuses (connect.ts), valid only until the next read.
   */
  own(): void {
    if (!this.length) return;
    this.chunks = [this.copy(this.length, false)];
    this.head = 0;
  }

  /** Moves up to `max` bytes into `target` at `at` (as many as are here); returns how many. */
  takeInto(target: Buffer, at: number, max: number): number {
    let done = 0;
    while (done < max && this.chunks.length) {
      const c = this.chunks[0];
      const k = Math.min(max - done, c.length - this.head);
      c.copy(target, at + done, this.head, this.head + k);
      done += k;
      this.advance(k);
    }
    return done;
  }

  private copy(n: number, consume: boolean): Buffer {
    const out = Buffer.allocUnsafe(n);
    let done = 0;
    let i = 0;
    let at = this.head;
    while (done < n) {
      const c = this.chunks[i];
      const k = Math.min(n - done, c.length - at);
      c.copy(out, done, at, at + k);
      done += k;
      at += k;
      if (at === c.length) {
        i++;
        at = 0;
      }
    }
    if (consume) this.advance(n);
    return out;
  }

  private advance(n: number): void {
    this.length -= n;
    while (n > 0) {
      const left = this.chunks[0].length - this.head;
      if (n < left) {
        this.head += n;
        return;
      }
      n -= left;
      this.chunks.shift();
      this.head = 0;
    }
  }
}
