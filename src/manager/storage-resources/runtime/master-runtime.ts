// The storage runtime follows the pool role (docs/storage-plugins.md "On a new master"): started
// when the manager starts as master and when a slave becomes master (designate_new_master,
// emergency_transition_to_master, eject), stopped when the master becomes a slave (join,
// designate_new_master, emergency_reset_master) and when the manager closes. Starts and stops run
// one after the other in the order asked, so a demotion during a start stops what that start made.
import { logger } from '../../../shared/log.js';
import type { StorageRuntime } from './storage-runtime.js';

const log = logger('storage-resources');

export class MasterStorageRuntime {
  private running?: StorageRuntime;
  /** The last start or stop asked: the next one runs after it. */
  private chain: Promise<void> = Promise.resolve();
  private wanted = false;

  /** `start` opens the store and the daemon (startStorageRuntime with the manager's options). */
  constructor(private readonly start: () => Promise<StorageRuntime>) {}

  /** The runtime while this host is master and it started; undefined otherwise. */
  get runtime(): StorageRuntime | undefined {
    return this.running;
  }

  /** Starts the runtime unless it runs or is starting; resolves once started (or failed: logged). */
  begin(): Promise<void> {
    if (this.wanted) return this.chain;
    this.wanted = true;
    this.chain = this.chain.then(async () => {
      if (this.running) return;
      try {
        this.running = await this.start();
      } catch (error) {
        // A plugin that fails to load is listed and skipped inside; only the store itself can throw.
        log.error('storage resources not started', { error: String(error) });
      }
    });
    return this.chain;
  }

  /** Stops the runtime (scan loops first, then the store); resolves once stopped. */
  end(): Promise<void> {
    this.wanted = false;
    this.chain = this.chain.then(async () => {
      const rt = this.running;
      this.running = undefined;
      try {
        await rt?.stop();
      } catch (error) {
        log.error('storage resources did not stop cleanly', { error: String(error) });
      }
    });
    return this.chain;
  }
}
