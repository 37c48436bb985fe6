// Storage over the real HTTP endpoints with the SDK client: default SR, VDI and VBD lifecycle,
// xapi errors on the wire, and an async VDI.copy tracked through its task.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XenApiClient } from '../../src/clients/sdk/client.js';
import { baseVmRecord } from '../../src/manager/bootstrap/vm-record.js';
import { startManager } from '../helpers/manager.js';
import { vbdRecord, vdiRecord } from '../helpers/records.js';

const MiB = 1024 * 1024;

test('storage through XML-RPC/JSON-RPC: SR, VDI, VBD, errors, async copy', async (t) => {
  const m = await startManager(t);
  const c = new XenApiClient({ url: m.httpUrl });
  await c.login('root', m.rootPassword);
  t.after(() => c.close());
  const call = (wire: string, ...args: unknown[]) => (c.call as any)(wire, ...args) as Promise<any>;

  const [pool] = await call('pool.get_all');
  const sr = await call('pool.get_default_SR', pool);
  const srRec = await call('SR.get_record', sr);
  assert.equal(srRec.type, 'file');
  assert.equal(srRec.PBDs.length, 1);
  assert.equal(await call('PBD.get_currently_attached', srRec.PBDs[0]), true);

  const vdi = await call('VDI.create', vdiRecord(sr, 16 * MiB, { name_label: 'd' }));
  assert.equal(await call('VDI.get_virtual_size', vdi), 16 * MiB);
  await assert.rejects(
    call('VDI.resize', vdi, MiB),
    (e: any) => e.code === 'VDI_TOO_SMALL' && e.params[0] === vdi,
  );
  await assert.rejects(call('SR.destroy', sr), (e: any) => e.code === 'SR_HAS_PBD' && e.params[0] === sr);

  const task = await call('Async.VDI.copy', vdi, sr, 'OpaqueRef:NULL', 'OpaqueRef:NULL');
  let status = 'pending';
  for (let i = 0; i < 200 && status === 'pending'; i++) {
    status = await call('task.get_status', task);
    if (status === 'pending') await new Promise((r) => setTimeout(r, 25));
  }
  assert.equal(status, 'success');
  const result = await call('task.get_result', task);
  const copy = /OpaqueRef:[0-9a-f-]+/.exec(result)?.[0];
  assert.ok(copy && copy !== vdi, result);
  assert.equal(await call('VDI.get_virtual_size', copy), 16 * MiB);

  const vm = await call(
    'VM.create',
    baseVmRecord({ name_label: 'v', memory_static_min: 128 * MiB, platform: {} }),
  );
  const vbd = await call('VBD.create', vbdRecord(vm, vdi, { userdevice: 'autodetect' }));
  assert.equal(await call('VBD.get_userdevice', vbd), '0');
  await assert.rejects(
    call('VBD.create', vbdRecord(vm, vdi, { userdevice: '1', bootable: false, type: 'CD' })),
    (e: any) => e.code === 'VBD_CDS_MUST_BE_READONLY',
  );
  await call('VBD.destroy', vbd);
  await call('VDI.destroy', vdi);
  await call('VDI.destroy', copy);
  assert.deepEqual(await call('SR.get_VDIs', sr), []);
});
