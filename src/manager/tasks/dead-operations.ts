// Operations of dead tasks. An object's current_operations maps a task to the operation it runs
// on that object; a task that died with its process (manager SIGKILLed mid-operation) never
// removes its entry, and the object then refuses every conflicting operation forever
// (OTHER_OPERATION_IN_PROGRESS). As xapi does at start-up (and in its GC), every entry whose
// task is not running in this process is dropped, for every class that has current_operations.
import type { Database } from '../db/database.js';

/** Stored classes with a current_operations field (VM, VDI, VBD, VIF, SR, host, pool, task...). */
export function classesWithOperations(db: Database): string[] {
  return Object.values(db.model.classes)
    .filter((c) => c.inDb && c.fields.some((f) => f.name === 'current_operations'))
    .map((c) => c.name);
}

/** The entries of `ops` whose task is still alive (pure). */
export function liveOperations(
  ops: Record<string, string>,
  alive: (task: string) => boolean,
): Record<string, string> {
  return Object.fromEntries(Object.entries(ops).filter(([task]) => alive(task)));
}

/**
 * Drops current_operations entries of tasks that are not alive; returns the objects changed, by
 * class, so their allowed_operations can be recomputed.
 */
export function clearDeadOperations(db: Database, alive: (task: string) => boolean): Map<string, string[]> {
  const changed = new Map<string, string[]>();
  db.transaction(() => {
    for (const cls of classesWithOperations(db)) {
      for (const [ref, row] of [...db.all(cls)]) {
        const ops = (row.current_operations as Record<string, string> | undefined) ?? {};
        const kept = liveOperations(ops, alive);
        if (Object.keys(kept).length === Object.keys(ops).length) continue;
        db.update(cls, ref, { current_operations: kept });
        let list = changed.get(cls);
        if (!list) changed.set(cls, (list = []));
        list.push(ref);
      }
    }
  });
  return changed;
}
