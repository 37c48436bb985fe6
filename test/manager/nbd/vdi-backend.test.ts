// Which agent procedure serves a VDI over NBD, and which hosts VDI.get_nbd_info offers for it: a
// VDI a running VM holds goes through that VM's QEMU on its own host only; any other VDI through
// a read-only blockdev export on a host with its SR plugged. Database rows only, with a recording
// stand-in for the agents.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Services } from '../../../src/manager/api/context.js';
import type { Database, Row } from '../../../src/manager/db/database.js';
import { servingHosts } from '../../../src/manager/nbd/nbd-info.js';
import { ExportRefused } from '../../../src/manager/nbd/server.js';
import { openVdiExport } from '../../../src/manager/nbd/vdi-backend.js';

function fixture(vmState: string, residentOn: string, attached = true) {
  const tables: Record<string, Map<string, Row>> = {
    VDI: new Map([['vdi1', { uuid: 'u-vdi1', SR: 'sr1', location: 'loc1', VBDs: ['vbd1'] }]]),
    VBD: new Map([['vbd1', { VM: 'vm1', device: 'xvdb', userdevice: '1', currently_attached: attached }]]),
    VM: new Map([['vm1', { uuid: 'u-vm1', power_state: vmState, resident_on: residentOn }]]),
    SR: new Map([['sr1', { uuid: 'u-sr1', type: 'nfs', PBDs: ['pbd1', 'pbd2'] }]]),
    PBD: new Map([
      ['pbd1', { SR: 'sr1', host: 'h1', currently_attached: true, device_config: { server: 'a' } }],
      ['pbd2', { SR: 'sr1', host: 'h2', currently_attached: true, device_config: { server: 'a' } }],
    ]),
  };
  const db = {
    get: (cls: string, ref: string) => tables[cls]?.get(ref),
    mustGet: (cls: string, ref: string) => {
      const r = tables[cls]?.get(ref);
      if (!r) throw new Error(`no ${cls} ${ref}`);
      return r;
    },
    all: (cls: string) => tables[cls] ?? new Map(),
  } as unknown as Database;
  const calls: unknown[][] = [];
  const agentOf = (host: string) => ({
    instance_nbd_open: async (...a: unknown[]) => {
      calls.push([host, 'instance_nbd_open', ...a]);
      return { id: 'x1', socket: '/s', exportName: 'e' };
    },
    blockdev_nbd_open: async (...a: unknown[]) => {
      calls.push([host, 'blockdev_nbd_open', ...a]);
      return { id: 'x2', socket: '/s', exportName: 'e' };
    },
  });
  const svc = { db, hostRef: () => 'h1', hosts: { get: agentOf } } as unknown as Services;
  return { svc, db, calls };
}

test("a running VM's disk is read through its QEMU, on its host only", async () => {
  const { svc, db, calls } = fixture('Running', 'h1');
  await openVdiExport(svc, 'vdi1', 'h1');
  assert.deepEqual(calls, [['h1', 'instance_nbd_open', 'u-vm1', 'xvdb', {}]]);
  await assert.rejects(openVdiExport(svc, 'vdi1', 'h2'), (e: unknown) => {
    assert.ok(e instanceof ExportRefused);
    assert.match(e.message, /running on another host/);
    return true;
  });
  assert.deepEqual(servingHosts(db, 'vdi1'), ['h1']);
  assert.deepEqual(servingHosts(fixture('Paused', 'h2').db, 'vdi1'), ['h2']);
});

test('any other VDI is a read-only blockdev export where its SR is plugged', async () => {
  for (const f of [fixture('Halted', ''), fixture('Running', 'h1', false)]) {
    await openVdiExport(f.svc, 'vdi1', 'h2');
    assert.deepEqual(f.calls, [
      [
        'h2',
        'blockdev_nbd_open',
        { uuid: 'u-sr1', type: 'nfs', deviceConfig: { server: 'a' } },
        'loc1',
        { readOnly: true },
      ],
    ]);
    assert.deepEqual(servingHosts(f.db, 'vdi1'), ['h1', 'h2']);
  }
  const { svc } = fixture('Halted', '');
  await assert.rejects(openVdiExport(svc, 'vdi1', 'h3'), /SR is not attached on this host/);
});
