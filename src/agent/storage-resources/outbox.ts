// The queue of wire messages between the device plugins and the master's next take. Bounded as the
// original's batches (8 MiB of bodies): when full, the oldest DATA goes first, and the gap in its
// session's sequence makes the master reset that session. Session requests and terminations are
// small and never dropped.
import type { DevicePluginMessage } from '../../shared/host/device-plugins.js';

export const OUTBOX_LIMIT_BYTES = 8 * 1024 * 1024;

const sizeOf = (m: DevicePluginMessage) => (m.body === undefined ? 0 : (JSON.stringify(m.body)?.length ?? 0));

export class Outbox {
  #messages: { message: DevicePluginMessage; bytes: number }[] = [];
  #bytes = 0;
  /** DATA messages dropped since the agent started (diagnostics). */
  dropped = 0;

  constructor(private readonly limitBytes = OUTBOX_LIMIT_BYTES) {}

  push(message: DevicePluginMessage): void {
    const bytes = sizeOf(message);
    this.#messages.push({ message, bytes });
    this.#bytes += bytes;
    while (this.#bytes > this.limitBytes) {
      const i = this.#messages.findIndex((e) => e.message.type === 'DATA');
      if (i < 0) break;
      this.#bytes -= this.#messages[i].bytes;
      this.#messages.splice(i, 1);
      this.dropped += 1;
    }
  }

  /** Every queued message, oldest first; the queue is empty afterwards. */
  take(): DevicePluginMessage[] {
    const out = this.#messages.map((e) => e.message);
    this.#messages = [];
    this.#bytes = 0;
    return out;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get length(): number {
    return this.#messages.length;
  }
}
