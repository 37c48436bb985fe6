// The pool's write fence. A slave's copy of the pool database is written by replication only: an
// API call that would write a replicated row on a slave (one already past the slave gate when the
// host changed role) is refused with HOST_IS_SLAVE [master], as the call would have been had it
// arrived a moment later. pool.designate_new_master raises the fence on the old master before it
// takes the dump it hands over, so every write it acknowledged is in the new master's database.
// Only API calls are fenced: background bookkeeping (liveness, agent events) is re-derived by
// whichever host is master, and must not fail inside a timer or a socket handler.
import { AsyncLocalStorage } from 'node:async_hooks';
import { XenApiError } from '../../shared/errors.js';
import { LOCAL_CLASSES } from './replica.js';

const apiCalls = new AsyncLocalStorage<true>();

/** Runs an API operation's handler (the dispatcher's): its writes are fenced. */
export function asApiCall<T>(fn: () => T): T {
  return apiCalls.run(true, fn);
}

/** Runs `fn` (and everything it starts: connections, loops) outside any API call's context. */
export function outsideApiCalls<T>(fn: () => T): T {
  return apiCalls.exit(fn);
}

/** Database.writeGuard: refuses an API call's write of a replicated class while `fencedTo()` names a master. */
export function fenceGuard(fencedTo: () => string | undefined): (cls: string) => void {
  return (cls) => {
    const master = fencedTo();
    if (master === undefined || LOCAL_CLASSES.has(cls) || !apiCalls.getStore()) return;
    throw new XenApiError('HOST_IS_SLAVE', [master]);
  };
}
