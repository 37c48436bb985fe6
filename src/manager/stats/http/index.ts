// xapi's statistics endpoints, served by each host's manager from its own agent's RRDs:
// /rrd_updates, /host_rrd (/host_rrds), /vm_rrd (/vm_rrds), /sr_rrd. See docs/statistics.md.
import type { Services } from '../../api/context.js';
import type { HttpFrontend } from '../../http/server.js';
import { mountDumpHandlers } from './dumps.js';
import { LocalStats } from './pool.js';
import { mountRrdUpdatesHandler } from './rrd-updates.js';

export { statsPoolRoutes } from './pool.js';

/**
 * Mounts the handlers; `agentSocket` is this host's agent's Unix socket, which a slave reads its
 * RRDs from (pool.ts). Returns what closes the slave's client.
 */
export function mountStatsHandlers(frontend: HttpFrontend, svc: Services, agentSocket?: string): () => void {
  const stats = new LocalStats(agentSocket);
  mountRrdUpdatesHandler(frontend, svc, stats);
  mountDumpHandlers(frontend, svc, stats);
  return () => stats.close();
}
