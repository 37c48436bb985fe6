// The `vdi` (disk), `vbd` and `vif` (nic) nouns against a real manager and agent: disk create
// (attached with -v), resize, download/upload of raw and qcow2 contents through the data plane
// (the bytes read back), VBD and VIF create/remove, and the bad-input messages.
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Api, type ApiObject } from '../../../src/clients/berth/api.js';
import { XenApiClient } from '../../../src/clients/sdk/client.js';
import { EXIT_NOT_FOUND, EXIT_USAGE } from '../../../src/clients/berth/errors.js';
import { vbdNoun } from '../../../src/clients/berth/nouns/vbd.js';
import { vdiNoun } from '../../../src/clients/berth/nouns/vdi.js';
import { vifNoun } from '../../../src/clients/berth/nouns/vif.js';
import { vmNoun } from '../../../src/clients/berth/nouns/vm.js';
import { run } from '../../../src/shared/exec.js';
import { XenApiError } from '../../../src/shared/errors.js';
import { connectApi, runVerb } from '../../helpers/berth-verb.js';
import { newNetwork, rejectsCli } from './compute-helpers.js';
import { startManager } from '../../helpers/manager.js';
import { tempDir } from '../../helpers/tmp.js';

const MiB = 2 ** 20;

test('disks: create, attach, resize, download/upload, vbd and vif', { timeout: 180_000 }, async (t) => {
  const m = await startManager(t, { https: true });
  const api = await connectApi(m.httpUrl, m.rootPassword);
  t.after(() => api.client.close());
  const dir = tempDir(t);
  const vm = (await runVerb(api, vmNoun, 'create', undefined, { name: 'app01' })).outcome as ApiObject;

  // disk create -v: a new VDI attached to the VM (not bootable).
  const disk = (
    await runVerb(api, vdiNoun, 'create', undefined, {
      name: 'data01',
      size: '4M',
      sr: 'Local storage',
      description: 'app data',
      vm: 'app01',
    })
  ).outcome as ApiObject;
  assert.equal(disk.record.name_description, 'app data');
  assert.equal(Number(disk.record.virtual_size), 4 * MiB);
  const [vbdRef] = (await api.call('VDI.get_VBDs', disk.ref)) as string[];
  const vbd = await api.byRef('VBD', vbdRef);
  assert.equal(vbd.record.VM, vm.ref);
  assert.equal(vbd.record.bootable, false);

  // resize grows it.
  await runVerb(api, vdiNoun, 'resize', disk, { size: '8M' });
  assert.equal(Number(await api.call('VDI.get_virtual_size', disk.ref)), 8 * MiB);

  // upload a raw image, download it back raw (same bytes) and as qcow2 (qemu-img reads it).
  const image = Buffer.alloc(8 * MiB);
  image.write('BERTH-COMPUTE-UPLOAD', 0);
  image.write('END-MARK', 8 * MiB - 8);
  writeFileSync(join(dir, 'in.raw'), image);
  const up = await runVerb(api, vdiNoun, 'upload', disk, {}, [join(dir, 'in.raw')]);
  assert.equal(up.outcome, true);
  assert.ok(up.out.progressSeen.length > 0, 'progress reported');
  await runVerb(api, vdiNoun, 'download', disk, {}, [join(dir, 'out.raw')]);
  assert.ok(readFileSync(join(dir, 'out.raw')).equals(image));
  assert.equal(statSync(join(dir, 'out.raw')).mode & 0o777, 0o600);
  await runVerb(api, vdiNoun, 'download', disk, { format: 'qcow2' }, [join(dir, 'out.qcow2')]);
  const info = await run('qemu-img', ['info', '--output=json', join(dir, 'out.qcow2')]);
  const parsed = JSON.parse(info.stdout);
  assert.equal(parsed.format, 'qcow2');
  assert.equal(parsed['virtual-size'], 8 * MiB);
  // The same over the manager's Unix socket (a local `berth` without a URL).
  const local = new XenApiClient({ socketPath: m.socketPath });
  await local.login('root', m.rootPassword, 'berth-test');
  t.after(() => local.close());
  await runVerb(new Api(local), vdiNoun, 'download', disk, {}, [join(dir, 'local.raw')]);
  assert.ok(readFileSync(join(dir, 'local.raw')).equals(image));
  // And over HTTPS (the client's agent and its TLS settings).
  const secure = await connectApi(m.httpsUrl, m.rootPassword);
  t.after(() => secure.client.close());
  await runVerb(secure, vdiNoun, 'download', disk, {}, [join(dir, 'tls.raw')]);
  assert.ok(readFileSync(join(dir, 'tls.raw')).equals(image));
  // An existing file is never overwritten.
  await rejectsCli(
    runVerb(api, vdiNoun, 'download', disk, {}, [join(dir, 'out.raw')]),
    EXIT_USAGE,
    /cannot write/,
  );
  await rejectsCli(
    runVerb(api, vdiNoun, 'download', disk, { format: 'vmdk' }, ['x']),
    EXIT_USAGE,
    /unknown disk format 'vmdk'/,
  );
  await rejectsCli(
    runVerb(api, vdiNoun, 'upload', disk, {}, [join(dir, 'missing.raw')]),
    EXIT_USAGE,
    /cannot read/,
  );

  // vbd remove detaches (the disk stays); vbd create attaches it again at the next free device.
  assert.equal((await runVerb(api, vbdNoun, 'remove', vbd)).outcome, true);
  assert.deepEqual(await api.call('VDI.get_VBDs', disk.ref), []);
  const again = (
    await runVerb(api, vbdNoun, 'create', undefined, { vm: 'app01', vdi: String(disk.record.uuid) })
  ).outcome as ApiObject;
  assert.equal(again.record.userdevice, '0');
  // Plugging into a halted VM: the manager's error.
  await assert.rejects(runVerb(api, vbdNoun, 'plug', again), (e: unknown) => e instanceof XenApiError);
  await rejectsCli(
    runVerb(api, vbdNoun, 'create', undefined, { vm: 'app01' }),
    EXIT_USAGE,
    /needs a VM \(-v\) and a disk/,
  );

  // vif create / remove.
  await newNetwork(api, 'lan-vif');
  const vif = (
    await runVerb(api, vifNoun, 'create', undefined, {
      vm: 'app01',
      network: 'lan-vif',
      mac: '02:00:00:00:00:42',
    })
  ).outcome as ApiObject;
  assert.equal(vif.record.MAC, '02:00:00:00:00:42');
  assert.equal(vif.record.device, '0');
  assert.equal((await runVerb(api, vifNoun, 'remove', vif)).outcome, true);
  await assert.rejects(
    runVerb(api, vifNoun, 'create', undefined, { vm: 'app01', network: 'lan-vif', mac: 'nonsense' }),
    (e: unknown) => e instanceof XenApiError && e.code === 'MAC_INVALID',
  );
  await rejectsCli(
    runVerb(api, vifNoun, 'create', undefined, { vm: 'nosuchvm', network: 'lan-vif' }),
    EXIT_NOT_FOUND,
    /no VM found matching 'nosuchvm'/,
  );

  // Bad disk creations.
  await rejectsCli(runVerb(api, vdiNoun, 'create', undefined, { size: '1G' }), EXIT_USAGE, /needs a name/);
  await rejectsCli(runVerb(api, vdiNoun, 'create', undefined, { name: 'x' }), EXIT_USAGE, /needs a size/);
  await rejectsCli(
    runVerb(api, vdiNoun, 'create', undefined, { name: 'x', size: '0' }),
    EXIT_USAGE,
    /invalid disk size/,
  );
  await rejectsCli(
    runVerb(api, vdiNoun, 'create', undefined, { name: 'x', size: '1Q' }),
    EXIT_USAGE,
    /invalid size '1Q'/,
  );
  await rejectsCli(
    runVerb(api, vdiNoun, 'create', undefined, { name: 'x', size: '1M', sr: 'nope' }),
    EXIT_NOT_FOUND,
    /no SR found/,
  );

  // remove: destroyed.
  await runVerb(api, vbdNoun, 'remove', again);
  assert.equal((await runVerb(api, vdiNoun, 'remove', disk)).outcome, true);
  await assert.rejects(api.call('VDI.get_record', disk.ref), /HANDLE_INVALID/);
});
