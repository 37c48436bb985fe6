// PBDs of a host whose agent is not connected yet (a host that just joined, a member offline when
// a shared SR was made): plugged through that agent at its next connection. A plug that finds the
// host offline again waits for the one after; one that fails for another reason leaves the PBD
// unplugged (logged; PBD.plug tries again). The list is this manager process's: after a restart
// or a master change, PBD.plug plugs what is left.
import { XenApiError, isXenApiError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import type { Services } from '../api/context.js';
import type { HostAgent } from '../vm/host-agent.js';

const log = logger('storage');

/** The PBDs still to plug on one host, and the client whose connections trigger them. */
interface Pending {
  client: HostAgent;
  pbds: Set<string>;
  running: boolean;
}

/** Per manager (Services) and host. */
const pendingOf = new WeakMap<Services, Map<string, Pending>>();

/**
 * Plugs `pbds` of host `host` with `plug` (sr-ops' plugPbd): now when its agent is connected,
 * else at its next connection. Resolves when this attempt is over (tests wait on it).
 */
export function plugWhenConnected(
  svc: Services,
  host: string,
  pbds: string[],
  plug: (svc: Services, pbd: string) => Promise<unknown>,
): Promise<void> {
  const client = svc.hosts.peek(host);
  if (!client) {
    if (pbds.length) log.warn('no agent client for the host: its PBDs stay unplugged', { host });
    return Promise.resolve();
  }
  let perHost = pendingOf.get(svc);
  if (!perHost) pendingOf.set(svc, (perHost = new Map()));
  let entry = perHost.get(host);
  if (!entry || entry.client !== client) {
    const fresh: Pending = { client, pbds: new Set(), running: false };
    entry = fresh;
    perHost.set(host, fresh);
    client.onReconnect(() => void plugPending(svc, host, fresh, plug));
  }
  for (const p of pbds) entry.pbds.add(p);
  return plugPending(svc, host, entry, plug);
}

async function plugPending(
  svc: Services,
  host: string,
  entry: Pending,
  plug: (svc: Services, pbd: string) => Promise<unknown>,
): Promise<void> {
  if (entry.running || !entry.pbds.size || !entry.client.connected) return;
  if (svc.hosts.peek(host) !== entry.client) return; // host ejected, or a newer client
  entry.running = true;
  // Each PBD once per connection, including those added while this runs.
  const tried = new Set<string>();
  try {
    for (;;) {
      const pbd = [...entry.pbds].find((p) => !tried.has(p));
      if (pbd === undefined) break;
      tried.add(pbd);
      if (!svc.db.has('PBD', pbd) || svc.db.get('PBD', pbd)?.currently_attached) {
        entry.pbds.delete(pbd);
        continue;
      }
      try {
        await plug(svc, pbd);
        entry.pbds.delete(pbd);
      } catch (e) {
        if (isXenApiError(e) && e.code === 'HOST_OFFLINE') continue; // at the next connection
        entry.pbds.delete(pbd);
        log.warn('a PBD could not be plugged on its host; PBD.plug can try again', {
          host,
          pbd,
          error: e instanceof XenApiError ? e.description.join(' ') : String(e),
        });
      }
    }
  } finally {
    entry.running = false;
  }
}
