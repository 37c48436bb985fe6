// Where /vm_rrd and /sr_rrd send a client when this host's agent holds no RRD (rrdd_proxy.ml):
// the resident member, the archive here (master), or the master with rrd_unarchive (slave).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Services } from '../../../src/manager/api/context.js';
import { srDumpPlace, vmDumpPlace, withUnarchive } from '../../../src/manager/stats/http/placement.js';

type Row = Record<string, unknown>;

function fakeSvc(role: { kind: 'master' } | { kind: 'slave'; master: string }) {
  const rows = new Map<string, Row>([
    ['VM/halted', { uuid: 'u-halted', resident_on: 'OpaqueRef:NULL' }],
    ['VM/away', { uuid: 'u-away', resident_on: 'h2' }],
    ['VM/here', { uuid: 'u-here', resident_on: 'h1' }],
    ['host/h1', { address: '10.0.0.1' }],
    ['host/h2', { address: '10.0.0.2' }],
    ['SR/local', { uuid: 's-local', PBDs: ['p1'] }],
    ['SR/remote', { uuid: 's-remote', PBDs: ['p2'] }],
    ['PBD/p1', { host: 'h1', currently_attached: true }],
    ['PBD/p2', { host: 'h2', currently_attached: true }],
    ['pool/pool', { master: 'h1' }],
  ]);
  const db = {
    get: (cls: string, ref: string) => rows.get(`${cls}/${ref}`),
    has: (cls: string, ref: string) => rows.has(`${cls}/${ref}`),
    refByUuid: (cls: string, uuid: string) =>
      [...rows].find(([k, v]) => k.startsWith(`${cls}/`) && v.uuid === uuid)?.[0].split('/')[1],
  };
  return {
    db,
    hostRef: () => 'h1',
    poolRef: () => 'pool',
    hosts: { live: () => true },
    pool: { role, endpoint: { scheme: 'https', port: 443 } },
  } as unknown as Services;
}

test('rrd_unarchive goes first in the query, as xapi adds it', () => {
  assert.equal(
    withUnarchive('/vm_rrd?uuid=x&session_id=OpaqueRef:s'),
    '/vm_rrd?rrd_unarchive=&uuid=x&session_id=OpaqueRef:s',
  );
  assert.equal(withUnarchive('/vm_rrd'), '/vm_rrd?rrd_unarchive=');
});

test('/vm_rrd placement on a master and on a slave', () => {
  const master = fakeSvc({ kind: 'master' });
  const q = (s: string) => new URLSearchParams(s);
  assert.deepEqual(vmDumpPlace(master, 'u-away', '/vm_rrd?uuid=u-away', q('uuid=u-away')), {
    kind: 'redirect',
    location: 'https://10.0.0.2/vm_rrd?uuid=u-away',
  });
  assert.deepEqual(vmDumpPlace(master, 'u-halted', '/vm_rrd?uuid=u-halted', q('uuid=u-halted')), {
    kind: 'archive',
  });
  assert.deepEqual(vmDumpPlace(master, 'u-here', '/vm_rrd?uuid=u-here', q('uuid=u-here')), {
    kind: 'archive',
  });
  assert.deepEqual(vmDumpPlace(master, 'nope', '/vm_rrd?uuid=nope', q('uuid=nope')), { kind: 'unknown-vm' });

  const slave = fakeSvc({ kind: 'slave', master: '10.0.0.9' });
  assert.deepEqual(vmDumpPlace(slave, 'u-halted', '/vm_rrd?uuid=u-halted&json', q('uuid=u-halted&json')), {
    kind: 'redirect',
    location: 'https://10.0.0.9/vm_rrd?rrd_unarchive=&uuid=u-halted&json',
  });
  assert.equal(vmDumpPlace(slave, 'u-away', '/vm_rrd?uuid=u-away', q('uuid=u-away')).kind, 'redirect');
  assert.deepEqual(
    vmDumpPlace(slave, 'u-halted', '/vm_rrd?rrd_unarchive=&uuid=u-halted', q('rrd_unarchive=&uuid=u-halted')),
    { kind: 'archive' },
    'an unarchive request is answered from the archive where it lands',
  );
});

test('/sr_rrd placement: the host serving the SR, else the archive', () => {
  const master = fakeSvc({ kind: 'master' });
  const q = new URLSearchParams();
  assert.deepEqual(srDumpPlace(master, 's-remote', '/sr_rrd?uuid=s-remote', q), {
    kind: 'redirect',
    location: 'https://10.0.0.2/sr_rrd?uuid=s-remote',
  });
  assert.deepEqual(srDumpPlace(master, 's-local', '/sr_rrd?uuid=s-local', q), { kind: 'archive' });
  assert.deepEqual(srDumpPlace(master, 'nope', '/sr_rrd?uuid=nope', q), { kind: 'none' });
});
