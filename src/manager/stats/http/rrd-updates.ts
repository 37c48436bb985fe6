// GET /rrd_updates (§6.4): the local host's RRDs (its own, its running VMs', the SRs asked for)
// rendered by its agent, sent with xapi's headers. Only this host: clients ask every member.
import type { Services } from '../../api/context.js';
import type { HttpFrontend } from '../../http/server.js';
import { sendUpdates } from './responses.js';
import type { LocalStats } from './pool.js';
import { mountStatsHandler, type StatsOutcome, type StatsRequest, StatsStatus } from './route.js';
import { parseUpdatesQuery } from './updates-query.js';

async function rrdUpdates(r: StatsRequest): Promise<StatsOutcome> {
  const accept = r.req.headers.accept;
  const parsed = parseUpdatesQuery(r.query.query, Array.isArray(accept) ? accept.join(',') : accept);
  if (!parsed.ok) throw new StatsStatus(parsed.status, parsed.reason);
  const hostUuid = String(r.svc.db.get('host', r.svc.hostRef())?.uuid ?? '');
  const body = await r.local().stats_rrd_updates({ ...parsed.query, hostUuid });
  sendUpdates(r.res, parsed.query.json, body);
  return 'answered';
}

export function mountRrdUpdatesHandler(frontend: HttpFrontend, svc: Services, stats: LocalStats) {
  mountStatsHandler(
    frontend,
    svc,
    { path: '/rrd_updates', action: 'http/get_rrd_updates', handle: rrdUpdates },
    ['/rrd_updates'],
    stats,
  );
}
