// lvm: real LVM on loop devices this test creates and always removes. create_thin_pool is
// tested for what the host can do: with device-mapper it makes the pool, without it it fails
// cleanly with LVM's message and leaves nothing behind.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { checkDevices, parseLvs, parsePvs, parseVgs } from '../../../src/agent/plugins/builtin/lvm.js';
import { deviceMapper } from '../../helpers/capabilities.js';
import { failure, host, scripted, tempDir } from './helpers.js';

const SIZE = 32 * 1024 * 1024;
const env = { ...process.env, LVM_SUPPRESS_FD_WARNINGS: '1' };
const sh = (cmd: string, args: string[]) => {
  try {
    return execFileSync(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  } catch {
    return '';
  }
};
const isPv = (dev: string) => sh('pvs', ['--noheadings', '-o', 'pv_name', dev]).trim() === dev;
const vgExists = (vg: string) => sh('vgs', ['--noheadings', '-o', 'vg_name', vg]).trim() === vg;

describe('lvm on loop devices', () => {
  const dir = tempDir('lvm');
  const loops: string[] = [];
  const vg = `berthtest_${process.pid}`;
  const h = host();
  const call = (fn: string, args: Record<string, string> = {}) => h.call('lvm.py', fn, args);

  before(() => {
    for (let i = 0; i < 3; i++) {
      const img = join(dir.path, `disk${i}.img`);
      writeFileSync(img, '');
      truncateSync(img, SIZE);
      loops.push(execFileSync('losetup', ['-f', '--show', img]).toString().trim());
    }
  });

  after(() => {
    sh('vgremove', ['-f', '-y', vg]);
    for (const l of loops) {
      sh('pvremove', ['-ff', '-y', l]);
      sh('losetup', ['-d', l]);
    }
    dir.cleanup();
  });

  it('creates a physical volume and lists it', async () => {
    assert.equal(await call('create_physical_volume', { devices: loops[0] }), '{}');
    const pvs = JSON.parse(await call('list_physical_volumes'));
    assert.deepEqual(pvs[loops[0]], {
      vg_name: '',
      format: 'lvm2',
      attributes: '---',
      capacity: SIZE,
      free: SIZE,
    });
  });

  it('creates a volume group (initialising plain devices) and lists it', async () => {
    assert.equal(
      await call('create_volume_group', { vg_name: vg, devices: `${loops[0]},${loops[1]}` }),
      '{}',
    );
    const vgs = JSON.parse(await call('list_volume_groups', { vg_name: vg }));
    assert.deepEqual(Object.keys(vgs), [vg]);
    assert.equal(vgs[vg].pv_count, 2);
    assert.equal(vgs[vg].lv_count, 0);
    assert.equal(vgs[vg].sn_count, 0);
    assert.match(vgs[vg].attributes, /^wz--n-$/);
    assert.ok(vgs[vg].capacity > SIZE && vgs[vg].capacity <= 2 * SIZE);
    assert.equal(vgs[vg].free, vgs[vg].capacity);
    const pvs = JSON.parse(await call('list_physical_volumes'));
    assert.equal(pvs[loops[1]].vg_name, vg);
    const all = JSON.parse(await call('list_volume_groups'));
    assert.ok(all[vg]);
  });

  it('gives {} for an unknown VG in list_volume_groups', async () => {
    assert.equal(await call('list_volume_groups', { vg_name: `${vg}_none` }), '{}');
  });

  it('create_thin_pool makes the pool with device-mapper, fails cleanly without it', async (t) => {
    assert.equal(await call('list_logical_volumes', { vg_name: vg }), '{}');
    const dm = deviceMapper();
    if (dm.ok) {
      t.diagnostic('device-mapper present: expecting a thin pool');
      assert.equal(await call('create_thin_pool', { vg_name: vg, lv_name: 'thin_device' }), '{}');
      const lvs = JSON.parse(await call('list_logical_volumes', { vg_name: vg }));
      assert.deepEqual(Object.keys(lvs), ['thin_device']);
      assert.equal(lvs.thin_device.vg_name, vg);
      assert.match(lvs.thin_device.attributes, /^t/);
      assert.equal(lvs.thin_device.pool, '');
      assert.ok(lvs.thin_device.capacity > 0);
      // Every LV of the VG, the pool's hidden metadata spare included.
      sh('lvremove', ['-f', '-y', vg]);
      assert.equal(sh('lvs', ['--noheadings', '-a', vg]).trim(), '');
      assert.equal(await call('list_logical_volumes', { vg_name: vg }), '{}');
      return;
    }
    t.diagnostic(`${dm.reason}: expecting a clean failure`);
    const d = await failure(call('create_thin_pool', { vg_name: vg, lv_name: 'thin_device' }));
    assert.equal(d[0], 'XENAPI_PLUGIN_FAILURE');
    assert.match(d[1], /^LVM_ERROR\(\d+\)$/);
    assert.match(d[2], /device-mapper/);
    assert.equal(await call('list_logical_volumes', { vg_name: vg }), '{}');
    assert.equal(sh('lvs', ['--noheadings', '-a', vg]).trim(), '');
    assert.equal(JSON.parse(await call('list_volume_groups', { vg_name: vg }))[vg].lv_count, 0);
  });

  it("quotes upstream's command line when a report fails", async () => {
    const none = `${vg}_none`;
    const d = await failure(call('list_logical_volumes', { vg_name: none }));
    assert.deepEqual(d.slice(0, 3), [
      'XENAPI_PLUGIN_FAILURE',
      '5',
      `Command '['lvs', '--noheadings', '--units', 'B', '--nosuffix', '--separator', ':', '-olv_name,vg_name,lv_attr,lv_size,pool_lv', '${none}']' failed with code: 5`,
    ]);
    assert.match(d[3], new RegExp(`^stdout: '', stderr: '.*Volume group "${none}" not found`));
    const { run } = scripted(() => ({ code: 5, stderr: 'broken' }));
    assert.deepEqual((await failure(host({ run }).call('lvm', 'list_physical_volumes', {}))).slice(1, 3), [
      '5',
      "Command '['pvs', '--noheadings', '--units', 'B', '--nosuffix']' failed with code: 5",
    ]);
  });

  it('create_thin_pool on an unknown VG is an LVM error', async () => {
    const d = await failure(call('create_thin_pool', { vg_name: `${vg}_none`, lv_name: 'thin' }));
    assert.equal(d[1], 'LVM_ERROR(5)');
    assert.match(d[2], /not found/);
  });

  it('a failed create_physical_volume leaves no device initialised', async () => {
    const d = await failure(
      call('create_physical_volume', { devices: `${loops[2]},/dev/berth-no-such-disk` }),
    );
    assert.match(d[1], /^LVM_ERROR\(\d+\)$/);
    assert.match(d[2], /berth-no-such-disk/);
    assert.equal(isPv(loops[2]), false);
  });

  it('a failed create_volume_group leaves neither a VG nor new PVs', async () => {
    const other = `${vg}_b`;
    const d = await failure(
      call('create_volume_group', { vg_name: other, devices: `${loops[2]},/dev/berth-no-such-disk` }),
    );
    assert.match(d[1], /^LVM_ERROR\(\d+\)$/);
    assert.equal(vgExists(other), false);
    assert.equal(isPv(loops[2]), false);
    // A device already in a VG is refused and the existing VG is untouched.
    const d2 = await failure(call('create_volume_group', { vg_name: other, devices: loops[0] }));
    assert.match(d2[1], /^LVM_ERROR\(\d+\)$/);
    assert.equal(vgExists(other), false);
    assert.equal(JSON.parse(await call('list_volume_groups', { vg_name: vg }))[vg].pv_count, 2);
  });

  it('destroys the volume group; force makes a missing VG a success', async () => {
    assert.equal(await call('destroy_volume_group', { vg_name: vg }), '{}');
    assert.equal(vgExists(vg), false);
    assert.equal(await call('list_volume_groups', { vg_name: vg }), '{}');
    assert.equal(await call('destroy_volume_group', { vg_name: vg, force: '1' }), '{}');
    const d = await failure(call('destroy_volume_group', { vg_name: vg }));
    assert.equal(d[1], 'LVM_ERROR(5)');
    assert.match(d[2], new RegExp(`Volume group "${vg}" not found`));
  });

  it('passes the force flags upstream uses', async () => {
    const { run, calls } = scripted((argv) =>
      argv[0] === 'pvs'
        ? { stdout: '' }
        : argv[0] === 'vgs'
          ? { code: 5, stderr: 'Volume group "g" not found' }
          : {},
    );
    const s = host({ run });
    await s.call('lvm', 'create_physical_volume', { devices: '/dev/sdb,/dev/sdc', force: 'true' });
    await s.call('lvm', 'create_physical_volume', { devices: '/dev/sdb', ignore_existing_filesystems: '1' });
    await s.call('lvm', 'create_physical_volume', { devices: '/dev/sdb' });
    await s.call('lvm', 'create_volume_group', { vg_name: 'g', devices: '/dev/sdb', force: 'yes' });
    await s.call('lvm', 'destroy_volume_group', { vg_name: 'g', force: 'on' });
    const mutators = calls.filter((c) => ['pvcreate', 'vgcreate', 'vgremove'].includes(c[0]));
    assert.deepEqual(mutators, [
      ['pvcreate', '/dev/sdb', '/dev/sdc', '-ff', '-y'],
      ['pvcreate', '/dev/sdb', '-f', '-y'],
      ['pvcreate', '/dev/sdb', '-qq'],
      ['vgcreate', 'g', '/dev/sdb', '-f'],
      ['vgremove', 'g', '-f', '-y'],
    ]);
  });

  it('refuses bad names and devices before running anything', async () => {
    const { run, calls } = scripted(() => ({}));
    const s = host({ run });
    const cases: [string, Record<string, string>, string][] = [
      ['create_volume_group', { vg_name: '-ff', devices: '/dev/sdb' }, "Invalid volume group name '-ff'"],
      ['create_volume_group', { vg_name: 'a/b', devices: '/dev/sdb' }, "Invalid volume group name 'a/b'"],
      ['create_volume_group', { vg_name: 'g', devices: 'sdb' }, "Invalid device 'sdb'"],
      ['create_physical_volume', { devices: '--config=x' }, "Invalid device '--config=x'"],
      ['create_thin_pool', { vg_name: 'g', lv_name: 'x_tmeta' }, "Invalid logical volume name 'x_tmeta'"],
      ['create_thin_pool', { vg_name: 'g' }, "'lv_name'"],
      ['create_physical_volume', {}, "'devices'"],
      ['destroy_volume_group', { vg_name: 'g', force: 'perhaps' }, "invalid truth value 'perhaps'"],
      ['list_volume_groups', { vg_name: '--all' }, "Invalid volume group name '--all'"],
    ];
    for (const [fn, args, message] of cases) {
      const d = await failure(s.call('lvm', fn, args));
      assert.deepEqual(d.slice(0, 3), ['XENAPI_PLUGIN_FAILURE', '-1', message], fn);
    }
    assert.deepEqual(calls, []);
    assert.throws(() => checkDevices('/dev/a,'));
  });
});

describe('lvm report parsing', () => {
  it("parses upstream's report lines (fixtures of XCP-ng's plugin tests)", () => {
    const pvs = parsePvs(
      '  /dev/sda3 VG_XenStorage-27d9 lvm2 a-- 62797119488 62792925184\n' +
        '  /dev/sdb linstor_group lvm2 a-- 107369988096 0\n' +
        '  /dev/loop3            lvm2 ---   33554432   33554432\n',
    );
    assert.deepEqual(pvs, {
      '/dev/sda3': {
        vg_name: 'VG_XenStorage-27d9',
        format: 'lvm2',
        attributes: 'a--',
        capacity: 62797119488,
        free: 62792925184,
      },
      '/dev/sdb': {
        vg_name: 'linstor_group',
        format: 'lvm2',
        attributes: 'a--',
        capacity: 107369988096,
        free: 0,
      },
      '/dev/loop3': { vg_name: '', format: 'lvm2', attributes: '---', capacity: 33554432, free: 33554432 },
    });
    assert.deepEqual(parseVgs('  linstor_group 1 2 0 wz--n- 107369988096 0\n'), {
      linstor_group: {
        pv_count: 1,
        lv_count: 2,
        sn_count: 0,
        attributes: 'wz--n-',
        capacity: 107369988096,
        free: 0,
      },
    });
    const lvs = parseLvs(
      '  thin_device:linstor_group:twi---tz--:107160272896:\n' +
        '  xcp-persistent-database_00000:linstor_group:Vwi-aotz--:1077936128:thin_device\n',
    );
    assert.deepEqual(lvs, {
      thin_device: { attributes: 'twi---tz--', capacity: 107160272896, pool: '', vg_name: 'linstor_group' },
      'xcp-persistent-database_00000': {
        attributes: 'Vwi-aotz--',
        capacity: 1077936128,
        pool: 'thin_device',
        vg_name: 'linstor_group',
      },
    });
    assert.throws(() => parsePvs('a b c'), /^Error: Unexpected pv result at index 0: `a b c`\.$/);
    assert.throws(() => parseLvs('a:b'), /Unexpected lv result at index 0/);
  });
});
