// scrapeHosts over a stand-in registry: every host of the database asked at once, this host
// first; an offline agent is not asked, a failing or slow one is left out after the deadline
// without delaying the others.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Services } from '../../../../src/manager/api/context.js';
import { scrapeHosts } from '../../../../src/manager/stats/prometheus/collect.js';
import type { LatestValues } from '../../../../src/shared/host/stats.js';

const latest = (cpu: number): LatestValues => ({ time: 1, host: { cpu_avg: cpu }, vms: {}, srs: {} });

function fakeServices(
  agents: Record<string, { live: boolean; answer: () => Promise<LatestValues> }>,
): Services {
  const rows = new Map(
    Object.keys(agents).map((ref, i) => [ref, { uuid: `uuid-${ref}`, name_label: `host ${i}` }]),
  );
  const asked: string[] = [];
  return {
    hostRef: () => 'OpaqueRef:me',
    db: { all: () => rows, get: (_cls: string, ref: string) => rows.get(ref) },
    hosts: {
      live: (ref: string) => agents[ref].live,
      get: (ref: string) => {
        if (!agents[ref].live) throw new Error('offline');
        asked.push(ref);
        return { stats: { stats_latest: agents[ref].answer } };
      },
    },
    asked,
  } as unknown as Services;
}

test('scrapeHosts: answers in time for live hosts, down for offline, failing and slow ones', async () => {
  const svc = fakeServices({
    'OpaqueRef:slow': { live: true, answer: () => new Promise(() => undefined) },
    'OpaqueRef:off': { live: false, answer: async () => latest(0.9) },
    'OpaqueRef:me': { live: true, answer: async () => latest(0.25) },
    'OpaqueRef:fails': { live: true, answer: async () => Promise.reject(new Error('boom')) },
    'OpaqueRef:other': { live: true, answer: async () => latest(0.5) },
  });
  const started = Date.now();
  const hosts = await scrapeHosts(svc, 200);
  const took = Date.now() - started;
  assert.ok(took >= 190 && took < 1000, `took ${took} ms: one deadline for all hosts, not one per host`);
  assert.deepEqual(
    hosts.map((h) => [h.uuid, h.latest?.host.cpu_avg]),
    [
      ['uuid-OpaqueRef:me', 0.25],
      ['uuid-OpaqueRef:slow', undefined],
      ['uuid-OpaqueRef:off', undefined],
      ['uuid-OpaqueRef:fails', undefined],
      ['uuid-OpaqueRef:other', 0.5],
    ],
  );
  assert.equal(hosts[0].nameLabel, 'host 2');
  assert.ok(
    !(svc as unknown as { asked: string[] }).asked.includes('OpaqueRef:off'),
    'an offline agent is not asked',
  );
});
