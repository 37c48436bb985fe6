// xapi's statistics endpoints, served by each host's manager from its own agent's RRDs:
// /rrd_updates, /host_rrd (/host_rrds), /vm_rrd (/vm_rrds), /sr_rrd. See docs/statistics.md.
import type { Services } from '../../api/context.js';
import type { HttpFrontend } from '../../http/server.js';
import { mountDumpHandlers } from './dumps.js';
import { mountRrdUpdatesHandler } from './rrd-updates.js';

export function mountStatsHandlers(frontend: HttpFrontend, svc: Services) {
  mountRrdUpdatesHandler(frontend, svc);
  mountDumpHandlers(frontend, svc);
}
