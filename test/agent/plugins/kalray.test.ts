// kalray_dpu against a JSON-RPC server written for the test (fake-dpu.ts): the calls and their
// parameters, the DPU's naming restrictions, its error replies, refusals and timeouts.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FakeDpu } from './fake-dpu.js';
import { failure, host } from './helpers.js';

describe('kalray_dpu', () => {
  const dpu = new FakeDpu();
  const logged: string[] = [];
  const capture = (_m: string, f?: Record<string, unknown>) => logged.push(JSON.stringify(f ?? {}));
  const h = host({ log: { debug: capture, info: capture, warn: capture, error: capture } });
  const auth = () => ({
    username: dpu.username,
    password: dpu.password,
    server: '127.0.0.1',
    port: String(dpu.port),
  });
  const call = (fn: string, args: Record<string, string> = {}) =>
    h.call('kalray_dpu.py', fn, { ...auth(), ...args });
  const [disk1, disk2] = ['HotInNvmeWDS500AFY0-22050C800415n1', 'HotInNvmeWDS500AFY0-22050C800378n1'];

  before(() => dpu.start());
  after(() => dpu.stop());

  it('walks the seed scenario: devices, raid, lvs, volume create and delete', async () => {
    const devices = JSON.parse(await call('get_devices'));
    assert.deepEqual(
      devices.map((d: { name: string }) => d.name),
      [disk1, disk2],
    );
    assert.equal(
      await call('raid_create', { base_bdevs: `${disk1},${disk2}`, raid_name: 'raid0', raid_level: 'raid0' }),
      'true',
    );
    assert.deepEqual(dpu.calls.at(-1), {
      method: 'bdev_raid_create',
      params: {
        name: 'raid0',
        raid_level: 'raid0',
        base_bdevs: [disk1, disk2],
        strip_size_kb: 128,
        persist: true,
        split_dp: true,
      },
    });
    assert.equal(await call('get_raids'), '["raid0"]');
    assert.deepEqual(dpu.calls.at(-1)?.params, { category: 'all' });
    const lvsUuid = JSON.parse(await call('lvs_create', { lvs_name: 'lvs', bdev_name: 'raid0' }));
    assert.match(lvsUuid, /^[0-9a-f-]{36}$/);
    const lvs = JSON.parse(await call('get_lvs'));
    assert.equal(lvs[0].uuid, lvsUuid);
    assert.equal(lvs[0].base_bdev, 'raid0');
    const volUuid = JSON.parse(
      await call('lvol_create', {
        lvol_name: 'volume_09',
        lvol_size_in_bytes: '1073741824',
        lvs_name: 'lvs',
      }),
    );
    assert.match(volUuid, /^[0-9a-f-]{36}$/);
    assert.deepEqual(dpu.calls.at(-1)?.params, { lvol_name: 'volume_09', size: 1073741824, lvs_name: 'lvs' });
    assert.equal(JSON.parse(await call('get_lvs'))[0].free_clusters, lvs[0].free_clusters - 32);
    assert.equal(await call('lvol_delete', { lvol_name: 'lvs/volume_09' }), 'true');
    assert.deepEqual(dpu.calls.at(-1), { method: 'bdev_lvol_delete', params: { name: 'lvs/volume_09' } });
  });

  it("passes the DPU's own error replies through", async () => {
    const cases: [string, Record<string, string>, string][] = [
      ['raid_create', { base_bdevs: disk1, raid_name: 'raid0', raid_level: 'raid1' }, 'File exists'],
      ['raid_create', { base_bdevs: 'nvme-nope', raid_name: 'r2', raid_level: 'raid1' }, 'No such device'],
      ['lvol_delete', { lvol_name: 'lvs/volume_10' }, 'No such device'],
      ['lvs_create', { lvs_name: 'lvs', bdev_name: 'raid0' }, 'File exists'],
      [
        'lvol_create',
        { lvol_name: 'volume_11', lvol_size_in_bytes: String(2 ** 50), lvs_name: 'lvs' },
        'No space left on device',
      ],
    ];
    for (const [fn, args, message] of cases) {
      const d = await failure(call(fn, args));
      assert.equal(d[0], 'XENAPI_PLUGIN_FAILURE');
      assert.equal(d[1], '-1');
      assert.equal(d[2], message, fn);
      assert.match(d[3], /^JSON-RPC error -\d+$/);
    }
  });

  it('enforces the naming restrictions before calling the DPU', async () => {
    const before = dpu.calls.length;
    const cases: [string, Record<string, string>, RegExp][] = [
      ['lvs_create', { lvs_name: 'store', bdev_name: 'raid0' }, /must be named 'lvs'/],
      [
        'lvol_create',
        { lvol_name: 'volume_13', lvol_size_in_bytes: '1', lvs_name: 'lvs' },
        /volume_09, volume_10/,
      ],
      ['lvol_create', { lvol_name: 'data', lvol_size_in_bytes: '1', lvs_name: 'lvs' }, /one of volume_09/],
      [
        'lvol_create',
        { lvol_name: 'volume_10', lvol_size_in_bytes: '1', lvs_name: 'other' },
        /must be named 'lvs'/,
      ],
      [
        'lvol_create',
        { lvol_name: 'volume_10', lvol_size_in_bytes: '1GB', lvs_name: 'lvs' },
        /^Wrong size: /,
      ],
      ['lvol_create', { lvol_name: 'volume_10', lvol_size_in_bytes: '0', lvs_name: 'lvs' }, /^Wrong size: /],
      ['lvol_delete', { lvol_name: 'volume_09' }, /^Only volumes can be deleted/],
      ['lvol_delete', { lvol_name: 'lvs' }, /^Only volumes can be deleted/],
      ['lvol_delete', { lvol_name: 'raid0/volume_09' }, /must be named 'lvs'/],
      [
        'raid_create',
        { base_bdevs: disk1, raid_name: 'r', raid_level: 'raid5' },
        /^Only raid0, raid1 and raid10 are supported$/,
      ],
      ['raid_create', { raid_name: 'r', raid_level: 'raid1' }, /^Key 'base_bdevs' is missing$/],
      ['lvs_create', { lvs_name: 'lvs' }, /^Key 'bdev_name' is missing$/],
    ];
    for (const [fn, args, message] of cases) {
      const d = await failure(call(fn, args));
      assert.equal(d[1], '-1', fn);
      assert.match(d[2], message, `${fn} ${JSON.stringify(args)}`);
    }
    assert.equal(dpu.calls.length, before);
  });

  it('checks the connection arguments', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ password: 'x' }, "'username' is required"],
      [{ username: 'x' }, "'password' is required"],
      [{ username: 'x', password: 'y', port: '99999' }, "Invalid port '99999'"],
      [{ username: 'x', password: 'y', timeout: 'soon' }, "Invalid timeout 'soon'"],
      [{ username: 'x', password: 'y', server: 'a/b@c' }, "Invalid server 'a/b@c'"],
    ];
    for (const [args, message] of cases) {
      assert.deepEqual((await failure(h.call('kalray_dpu', 'get_devices', args))).slice(1, 3), [
        '-1',
        message,
      ]);
    }
  });

  it('reports refused credentials without revealing the password', async () => {
    const d = await failure(call('get_devices', { password: 'wrong-password' }));
    assert.equal(d[2], `The DPU at 127.0.0.1:${dpu.port} refused the credentials of 'admin'`);
    assert.ok(!d.join(' ').includes('wrong-password'));
  });

  it('reports a refused connection', async () => {
    // A port that was just free: nothing listens there.
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as { port: number }).port;
    await new Promise<void>((r) => s.close(() => r()));
    const d = await failure(call('get_devices', { port: String(port) }));
    assert.equal(d[2], `Error while connecting to 127.0.0.1:${port}: ECONNREFUSED`);
  });

  it('gives up on a DPU that does not answer, at the timeout', async () => {
    dpu.hang = true;
    try {
      const t0 = Date.now();
      const d = await failure(call('get_raids', { timeout: '0.3' }));
      const took = Date.now() - t0;
      assert.match(
        d[2],
        /^Timeout: the DPU at 127\.0\.0\.1:\d+ did not answer bdev_raid_get_bdevs within 0\.3 s$/,
      );
      assert.ok(took >= 280 && took < 2000, `took ${took} ms`);
    } finally {
      dpu.hang = false;
    }
  });

  it('never logs the password', () => {
    assert.ok(logged.length > 0);
    assert.ok(!logged.some((l) => l.includes(dpu.password)));
  });
});
