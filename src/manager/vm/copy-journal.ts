// All or nothing for VM.clone / VM.copy / VM.snapshot. The new VM's record exists while its
// disks are being copied (the copies' VBDs need it), so a manager killed mid-copy would leave a
// VM with some or none of its disks. Before the record is made, an intent naming the new VM's
// uuid is written durably; it is removed once the copy is whole or cleanly rolled back. At
// start-up every intent left over names a VM that never finished: it is destroyed with the
// disks it already got (copies in flight are rolled back by the storage journal before).
import { Journal } from '../../shared/journal.js';
import { logger } from '../../shared/log.js';

const log = logger('vm-copy');

export class VmCopyJournal {
  private readonly journal: Journal;
  constructor(dir: string) {
    this.journal = new Journal(dir);
  }
  /**
   * Runs `fn` (which creates the VM `vmUuid` and its disks, and on a clean failure removes them)
   * between a durable intent and its removal: only a process death leaves the intent behind.
   */
  async run<T>(vmUuid: string, fn: () => Promise<T>): Promise<T> {
    const intent = this.journal.begin('vm-copy', { vmUuid });
    try {
      return await fn();
    } finally {
      this.journal.end(intent);
    }
  }
  /** Destroys each VM an unfinished copy left behind; returns their uuids. */
  async recover(destroy: (vmUuid: string) => Promise<void>): Promise<string[]> {
    const done: string[] = [];
    for (const intent of this.journal.pending()) {
      const uuid = String(intent.vmUuid);
      try {
        await destroy(uuid);
        this.journal.end(intent);
        done.push(uuid);
      } catch (e) {
        // Kept for the next start (e.g. its SR is not attached now).
        log.warn('could not roll back an unfinished VM copy', { vm: uuid, error: String(e) });
      }
    }
    if (done.length) log.warn('rolled back VM copies left unfinished by the previous run', { vms: done });
    return done;
  }
}
