// The nfs SR through the API, against NFS-Ganesha (test/agent/storage/nfs-server.ts): SR.probe's
// export list, SR.create with shared=true (a PBD per host), VDI.create on the server, PBD
// unplug/plug (unmount/mount), SR.destroy. This kernel has no NFS client, so mount.nfs stands in
// as a bind mount of the export where needed; SR.create without it gets the agent's
// "kernel has no NFS client" error first.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { mountPoints } from '../../../src/agent/storage/nfs-config.js';
import { hostsSeeingSr } from '../../../src/manager/storage/sr-ops.js';
import { run } from '../../../src/shared/exec.js';
import { tempDir } from '../../helpers/tmp.js';
import { nfsServerUnavailable, standInMountNfs, startNfsServer } from '../../agent/storage/nfs-server.js';
import { code, startStorageManager } from './harness.js';

const MiB = 1024 * 1024;

test('nfs SR over the API: probe, shared create, VDIs on the server, plug/unplug, destroy', async (t) => {
  const why = nfsServerUnavailable();
  if (why) return t.skip(why);
  const dir = tempDir(t, 'berth-nfs-api-');
  const server = await startNfsServer(t, dir);
  const dataDir = join(dir, 'data');
  const srMountDir = join(dir, 'sr-mount');
  const m = await startStorageManager(t, {
    dataDir,
    agentStorage: { roots: [join(dataDir, 'sr')], stateDir: join(dataDir, 'storage'), srMountDir },
  });
  const { svc } = m.manager;
  const local = svc.hostRef();
  const other = svc.db.create('host', { name_label: 'host-b', hostname: 'host-b', enabled: true });
  const dc = { server: server.address, serverpath: server.exportDir };

  await assert.rejects(m.call('SR.probe', local, { server: server.address }, 'nfs', {}), (e: any) => {
    assert.equal(e.code, 'SR_BACKEND_FAILURE_101');
    assert.ok(e.params[2].includes(`<Path>${server.exportDir}</Path>`), e.params[2]);
    return true;
  });
  const kernelSays = await m.call('SR.create', local, dc, 0, 'nfs', '', 'nfs', '', true, {}).then(
    () => undefined,
    (e: any) => e,
  );
  if (kernelSays) {
    assert.equal(kernelSays.code, 'SR_BACKEND_FAILURE_73', String(kernelSays));
    assert.match(kernelSays.params[1], /kernel has no NFS client/);
    assert.deepEqual(await m.call('SR.get_by_name_label', 'nfs'), [], 'no SR recorded');
    standInMountNfs(t, dir);
  }

  const sr = await m.call('SR.create', local, dc, 0, 'nfs', '', 'nfs', '', true, {});
  const uuid = await m.call('SR.get_uuid', sr);
  const mp = join(srMountDir, uuid);
  t.after(() => run('umount', ['-l', mp]));
  assert.equal(await m.call('SR.get_shared', sr), true);
  assert.equal((await m.call<string[]>('SR.get_PBDs', sr)).length, 2, 'a PBD per host');
  assert.deepEqual(hostsSeeingSr(svc, sr), [local]);
  assert.ok(svc.db.get('host', other));

  const vdi = await m.call('VDI.create', {
    SR: sr,
    virtual_size: 16 * MiB,
    type: 'user',
    sharable: false,
    read_only: false,
    other_config: {},
    name_label: 'on nfs',
  });
  const location = await m.call('VDI.get_location', vdi);
  assert.ok(existsSync(join(server.exportDir, uuid, `${location}.qcow2`)), 'the VDI is a file on the server');

  const pbd = (await m.call<string[]>('SR.get_PBDs', sr)).find((p) => svc.db.get('PBD', p)?.host === local)!;
  await m.call('PBD.unplug', pbd);
  assert.equal(mountPoints(readFileSync('/proc/self/mountinfo', 'utf8')).includes(mp), false, 'unmounted');
  await assert.rejects(m.call('SR.scan', sr), code('SR_NOT_ATTACHED'));
  await m.call('PBD.plug', pbd);
  assert.ok(mountPoints(readFileSync('/proc/self/mountinfo', 'utf8')).includes(mp), 'mounted again');
  assert.deepEqual(await m.call('SR.get_VDIs', sr), [vdi]);

  await m.call('VDI.destroy', vdi);
  await m.call('PBD.unplug', pbd);
  await m.call('SR.destroy', sr);
  assert.equal(existsSync(join(server.exportDir, uuid)), false, 'SR directory removed on the server');
  assert.equal(existsSync(mp), false);
});
