// Asks every pool host's agent for its latest values, all at once, each with a deadline: a host
// whose agent is offline, slow or failing is reported down (berth_scrape_host_up 0) and never
// holds the scrape up.
import { logger } from '../../../shared/log.js';
import type { LatestValues } from '../../../shared/host/stats.js';
import type { Services } from '../../api/context.js';
import type { HostScrape, NameLookup } from './families.js';

const log = logger('metrics');

/** How long a scrape waits for one host's agent (Prometheus' default scrape_timeout is 10 s). */
export const HOST_TIMEOUT_MS = 2000;

function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

async function latestOf(
  svc: Services,
  hostRef: string,
  timeoutMs: number,
): Promise<LatestValues | undefined> {
  if (!svc.hosts.live(hostRef)) return undefined;
  try {
    return await withDeadline(svc.hosts.get(hostRef).stats.stats_latest(), timeoutMs);
  } catch (e) {
    log.debug('host left out of the scrape', {
      host: hostRef,
      error: e instanceof Error ? e.message : String(e),
    });
    return undefined;
  }
}

/** Every host of the database (this host first), with its latest values when its agent answered. */
export async function scrapeHosts(svc: Services, timeoutMs = HOST_TIMEOUT_MS): Promise<HostScrape[]> {
  const here = svc.hostRef();
  const refs = [...svc.db.all('host').keys()].sort((a, b) => (a === here ? -1 : b === here ? 1 : 0));
  return Promise.all(
    refs.map(async (ref) => {
      const row = svc.db.get('host', ref);
      return {
        uuid: String(row?.uuid ?? ''),
        nameLabel: String(row?.name_label ?? ''),
        latest: await latestOf(svc, ref, timeoutMs),
      };
    }),
  );
}

/** name_label of VMs and SRs from the database. */
export function dbNames(svc: Services): NameLookup {
  const label = (cls: string, uuid: string) => {
    const ref = svc.db.refByUuid(cls, uuid);
    const v = ref ? svc.db.get(cls, ref)?.name_label : undefined;
    return v === undefined ? undefined : String(v);
  };
  return { vm: (uuid) => label('VM', uuid), sr: (uuid) => label('SR', uuid) };
}
