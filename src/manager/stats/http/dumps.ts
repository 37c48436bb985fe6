// GET /host_rrd (+ /host_rrds), /vm_rrd?uuid= (+ /vm_rrds), /sr_rrd?uuid=: full dumps (§6.3), XML
// or JSON (accept.ts), from the agent of the host that holds the RRD; a halted VM's or detached
// SR's from the pool master's archive, re-rendered in the requested format.
import type { Services } from '../../api/context.js';
import { dumpJson, dumpXml, parseDumpXml } from '../../../shared/rrd/dump.js';
import type { HttpFrontend } from '../../http/server.js';
import { prefersJson } from './accept.js';
import type { LocalStats } from './pool.js';
import { type DumpPlace, srDumpPlace, vmDumpPlace } from './placement.js';
import { sendBareStatus, sendDump } from './responses.js';
import { isUuid } from './updates-query.js';
import { mountStatsHandler, type StatsOutcome, type StatsRequest, StatsStatus } from './route.js';

/** An archived (internal) dump as clients get it: the public XML or JSON layout. */
export function renderArchived(internalXml: string, json: boolean): string {
  const rrd = parseDumpXml(internalXml);
  return json ? dumpJson(rrd) : dumpXml(rrd);
}

function uuidOf(r: StatsRequest, what: string): string {
  const uuid = r.query.query.get('uuid');
  if (uuid === null) throw new StatsStatus(400, `get_${what}_rrd: missing the 'uuid' parameter`);
  return uuid;
}

function jsonOf(r: StatsRequest): boolean {
  const accept = r.req.headers.accept;
  return prefersJson(Array.isArray(accept) ? accept.join(',') : accept, r.query.query);
}

async function answer(r: StatsRequest, json: boolean, body: string): Promise<StatsOutcome> {
  await sendDump(r.res, json, body);
  return 'answered';
}

/** The dump from `place` when the local agent had none; `missing` is xapi's answer then. */
async function elsewhere(
  r: StatsRequest,
  owner: 'vm' | 'sr',
  uuid: string,
  place: DumpPlace,
  json: boolean,
): Promise<StatsOutcome> {
  if (place.kind === 'redirect') {
    sendBareStatus(r.res, 302, { Location: place.location });
    return 'redirected';
  }
  if (place.kind === 'unknown-vm') throw new StatsStatus(500, `UUID_INVALID: [ VM; ${uuid} ]`);
  if (place.kind === 'archive') {
    const archived = await r.svc.rrdArchive?.read(owner, uuid);
    if (archived) return answer(r, json, renderArchived(archived, json));
    // xapi's unarchive handler finds no file: rrd_handler None → 404.
    if (owner === 'vm') throw new StatsStatus(404, `no archived RRD for VM ${uuid}`);
  }
  throw new StatsStatus(500, `No ${owner === 'vm' ? 'VM' : 'SR'} RRD available!`);
}

async function hostRrd(r: StatsRequest): Promise<StatsOutcome> {
  const json = jsonOf(r);
  const body = await r.local().stats_rrd_dump('host', '', json);
  // xcp-rrdd: failwith "No host RRD available!" → 500.
  if (body === null) throw new StatsStatus(500, 'No host RRD available!');
  return answer(r, json, body);
}

function ownerRrd(owner: 'vm' | 'sr', where: typeof vmDumpPlace) {
  return async (r: StatsRequest): Promise<StatsOutcome> => {
    const uuid = uuidOf(r, owner);
    const json = jsonOf(r);
    // Not a uuid: no RRD can be held for it (the agent would refuse the argument).
    const here = isUuid(uuid) ? await r.local().stats_rrd_dump(owner, uuid, json) : null;
    if (here !== null) return answer(r, json, here);
    return elsewhere(r, owner, uuid, where(r.svc, uuid, r.req.url ?? '/', r.query.query), json);
  };
}

export function mountDumpHandlers(frontend: HttpFrontend, svc: Services, stats: LocalStats) {
  mountStatsHandler(
    frontend,
    svc,
    { path: '/host_rrd', action: 'http/get_host_rrd', handle: hostRrd },
    ['/host_rrd', '/host_rrds'],
    stats,
  );
  mountStatsHandler(
    frontend,
    svc,
    { path: '/vm_rrd', action: 'http/get_vm_rrd', handle: ownerRrd('vm', vmDumpPlace) },
    ['/vm_rrd', '/vm_rrds'],
    stats,
  );
  mountStatsHandler(
    frontend,
    svc,
    { path: '/sr_rrd', action: 'http/get_sr_rrd', handle: ownerRrd('sr', srDumpPlace) },
    ['/sr_rrd'],
    stats,
  );
}
