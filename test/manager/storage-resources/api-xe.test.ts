// Storage resources through the API and xe (issue 17 item 6): a real manager loads the example
// controller plugin (examples/storage-plugins/example-controller.ts) and a broken plugin from its
// plugin directory; a root created through the API is scanned by the scan daemon into the store;
// Debian's XenAPI.py, JSON-RPC and xe read resources, attributes, statistics, alerts, relations,
// the plugins and what a resource affects (through a hand-written BerthObjectLinks); bad input
// gets xapi's errors and leaves nothing behind; destroying the root removes what it reported.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { promisify } from 'node:util';
import { createClient } from 'xen-api';
import { arrays } from '../../../examples/storage-plugins/example-controller.js';
import type { BerthObjectLinks } from '../../../src/manager/storage-resources/links/types.js';
import { assertGolden } from '../../helpers/golden.js';
import { jsonRpcCaller } from '../../helpers/json-rpc.js';
import { startManager, type TestManager } from '../../helpers/manager.js';
import { tempDir } from '../../helpers/tmp.js';
import { xe } from '../cli/harness.js';

const run = promisify(execFile);
const EXAMPLE = join(import.meta.dirname, '../../../examples/storage-plugins/example-controller.ts');
const GOLDEN = join(import.meta.dirname, 'golden');

type Call = (method: string, ...params: unknown[]) => Promise<unknown>;

async function login(url: string, user: string, password: string) {
  const call = jsonRpcCaller(url);
  const r = await call('session.login_with_password', [user, password, '1.0', 'test']);
  const session = r.result as string;
  const raw = (method: string, ...params: unknown[]) => call(method, [session, ...params]);
  const ok: Call = async (method, ...params) => {
    const x = await raw(method, ...params);
    if (x.error) throw new Error(JSON.stringify(x.error.data));
    return x.result;
  };
  /** The XenAPI error a call fails with: [code, ...params]. */
  const fails = async (method: string, ...params: unknown[]) => {
    const x = await raw(method, ...params);
    assert.ok(x.error, `${method} should fail`);
    return [x.error.message, ...(x.error.data as string[])];
  };
  return { ok, fails };
}

async function waitFor<T>(what: string, f: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function setup(t: TestContext) {
  const dataDir = tempDir(t);
  const dir = join(dataDir, 'storage-plugins');
  mkdirSync(dir);
  // The example as written (a link keeps its relative import of the API working).
  symlinkSync(EXAMPLE, join(dir, 'example-controller.ts'));
  writeFileSync(join(dir, 'broken.mjs'), 'export const x = 1;\n');
  const m = await startManager(t, { dataDir, agent: false });
  return m;
}

const ARRAY_A = {
  controllers: [
    { index: 0 as const, status: 'OK' as const },
    { index: 1 as const, status: 'OK' as const },
  ],
  shelves: [{ shelf: 0, fans: [3000, 400] }],
  drives: [
    { serial: 'SN-A1', shelf: 0, bytes: 4e12, status: 'OK' as const, celsius: 31 },
    { serial: 'SN-A2', shelf: 0, bytes: 4e12, status: 'FAILED' as const, celsius: 44 },
  ],
  pools: [{ id: 1, raid: 'raid1' as const, drives: ['SN-A1', 'SN-A2'] }],
  luns: [{ id: 7, name: 'lun-seven', serial: 'LUNSERIAL7', pool: 1, bytes: 2e12 }],
};

/** root + 2 controllers + 1 shelf + 2 fans + 2 drives + 1 pool + 1 LUN */
const REPORTED = 10;

async function createRoot(ok: Call, address = 'array-a.example') {
  const ref = String(
    await ok('storage_resource.create_root', 'example-controller', 'Couplet', {
      address_1: address,
      address_2: `b-${address}`,
    }),
  );
  return ref;
}

async function scanned(ok: Call, n: number) {
  return waitFor(`${n} resources`, async () => {
    const all = (await ok('storage_resource.get_all')) as string[];
    return all.length === n ? all : undefined;
  });
}

/** Links as the links slice will answer them, by hand: a drive under an SR used by dom0's VBD. */
function fakeLinks(m: TestManager, driveId: () => number): BerthObjectLinks {
  const vm = [...m.manager.db.all('VM').entries()].find(([, r]) => r.is_control_domain)![0];
  return {
    srResources: () => [],
    resourceSrs: () => [],
    affectedBy: (id) => ({
      resources: [id, ...m.manager.storageResources!.store.queries.descendants(id)],
      srs: [],
      vdis: [],
      vbds: [],
      vms: id === driveId() ? [vm] : [],
    }),
    dependenciesOfVm: (v) => ({ vbds: [], vdis: [], srs: [], resources: v === vm ? [driveId()] : [] }),
  };
}

test('storage resources through XenAPI.py, JSON-RPC and xe', { timeout: 120_000 }, async (t) => {
  arrays.set('array-a.example', structuredClone(ARRAY_A));
  t.after(() => arrays.delete('array-a.example'));
  const m = await setup(t);
  const { ok, fails } = await login(m.httpUrl, 'root', m.rootPassword);
  const rootRef = await createRoot(ok);
  await scanned(ok, REPORTED);
  const rt = m.manager.storageResources!;
  const drive2 = () => rt.store.queries.resourcesOfClass('example-controller.HardDrive')[1].id;
  m.manager.svc.storageObjectLinks = fakeLinks(m, drive2);

  await t.test('XenAPI.py reads records, statistics, alerts, relations, plugins', async () => {
    const code = `
import json, sys
from os_xenapi.client import XenAPI
s = XenAPI.Session(sys.argv[1])
s.xenapi.login_with_password(sys.argv[2], sys.argv[3])
x = s.xenapi.storage_resource
recs = x.get_all_records()
drives = x.get_by_class('example-controller.HardDrive')
d = sorted((x.get_record(r) for r in drives), key=lambda r: r['attributes']['serial_number'])
failed = [r for r in drives if x.get_record(r)['attributes']['serial_number'] == 'SN-A2'][0]
vm = [r for r, v in s.xenapi.VM.get_all_records().items() if v['is_control_domain']][0]
out = {
  'count': len(recs),
  'classes': sorted(set(r['class_name'] for r in recs.values())),
  'drive': d[1],
  'by_uuid': x.get_by_uuid(d[1]['uuid']) == failed,
  'stats': x.get_statistics(failed),
  'history': x.get_statistic_history(failed, 'temperature'),
  'alerts': x.get_alerts(failed),
  'all_alerts': x.get_all_alerts(False),
  'affected': x.get_affected(failed),
  'by_vm': x.get_by_vm(vm),
  'plugins': x.get_plugins(),
}
try:
  x.get_record('OpaqueRef:nope')
except XenAPI.Failure as f:
  out['bad_ref'] = f.details
try:
  x.get_by_uuid('00000000-0000-0000-0000-000000000000')
except XenAPI.Failure as f:
  out['bad_uuid'] = f.details
print(json.dumps(out, default=str))
`;
    const { stdout } = await run('/usr/bin/python3', ['-c', code, `${m.httpUrl}/`, 'root', m.rootPassword], {
      timeout: 30_000,
    });
    const out = JSON.parse(stdout);
    assert.equal(out.count, REPORTED);
    assert.deepEqual(out.classes, [
      'example-controller.Controller',
      'example-controller.Couplet',
      'example-controller.Enclosure',
      'example-controller.Fan',
      'example-controller.HardDrive',
      'example-controller.Lun',
      'example-controller.RaidPool',
    ]);
    assert.equal(out.drive.attributes.status, 'FAILED');
    assert.equal(out.drive.attributes.capacity, String(4e12));
    assert.equal(out.drive.class_label, 'HardDrive');
    assert.match(out.drive.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(out.drive.parents.length, 1, 'the enclosure');
    assert.equal(out.drive.children.length, 1, 'the pool');
    assert.ok(
      out.drive.alerts.some((a: string) => a.startsWith('Drive failure')),
      out.drive.alerts.join('|'),
    );
    assert.equal(out.by_uuid, true);
    assert.deepEqual(out.stats, { temperature: '44' });
    assert.equal(out.history.length, 1);
    assert.equal(out.history[0].value, '44');
    const own = out.alerts.filter((a: any) => !a.propagated);
    assert.ok(
      own.some((a: any) => a.severity === 'ERROR' && a.active && a.alert_class === '_failure_status_40'),
    );
    assert.ok(
      out.alerts.some((a: any) => a.propagated && a.message.startsWith('Fan slow')),
      'the fan reaches it',
    );
    assert.ok(out.all_alerts.length >= 2);
    assert.equal(out.affected.storage_resources.length, 3, 'drive, pool, LUN');
    assert.equal(out.affected.VMs.length, 1);
    assert.equal(out.by_vm.storage_resources.length, 1);
    const names = out.plugins.map((p: any) => `${p.name}:${p.state}`);
    assert.ok(
      names.includes('example-controller:loaded') && names.includes('broken:broken'),
      names.join(' '),
    );
    const broken = out.plugins.find((p: any) => p.name === 'broken');
    assert.match(broken.errors[0], /^Add version=<int> to your plugin module/);
    const ex = out.plugins.find((p: any) => p.name === 'example-controller');
    assert.deepEqual(ex.scannable_classes, ['example-controller.Couplet']);
    assert.deepEqual(out.bad_ref, ['HANDLE_INVALID', 'storage_resource', 'OpaqueRef:nope']);
    assert.deepEqual(out.bad_uuid, [
      'UUID_INVALID',
      'storage_resource',
      '00000000-0000-0000-0000-000000000000',
    ]);
  });

  await t.test("xen-api (Xen Orchestra's client) reads them over XML-RPC and JSON-RPC", async () => {
    for (const transport of ['xml-rpc', 'json-rpc']) {
      const xapi = createClient({
        url: m.httpUrl,
        auth: { user: 'root', password: m.rootPassword },
        transport,
        watchEvents: false,
      });
      await xapi.connect();
      try {
        const recs = (await xapi.call('storage_resource.get_all_records')) as Record<string, any>;
        assert.equal(Object.keys(recs).length, REPORTED, transport);
        assert.equal(recs[rootRef].class_name, 'example-controller.Couplet', transport);
        const plugins = (await xapi.call('storage_resource.get_plugins')) as any[];
        assert.ok(
          plugins.some((p) => p.name === 'broken' && p.state === 'broken'),
          transport,
        );
      } finally {
        await xapi.disconnect();
      }
    }
  });

  await t.test('refs and uuids are stable across calls and resolve back', async () => {
    const a = (await ok('storage_resource.get_all')) as string[];
    const b = (await ok('storage_resource.get_all')) as string[];
    assert.deepEqual(a, b);
    const rec = (await ok('storage_resource.get_record', rootRef)) as any;
    assert.equal(rec.class_name, 'example-controller.Couplet');
    assert.equal(rec.attributes.address_1, 'array-a.example');
    assert.equal(await ok('storage_resource.get_by_uuid', rec.uuid), rootRef);
    assert.ok(rec.root, 'a root names itself');
  });

  await t.test('bad input: xapi errors, nothing created', async () => {
    const before = ((await ok('storage_resource.get_all')) as string[]).length;
    const roots = rt.store.queries.roots().length;
    const couplet = (attrs: Record<string, string>) =>
      fails('storage_resource.create_root', 'example-controller', 'Couplet', attrs);
    assert.deepEqual(await fails('storage_resource.create_root', 'no-such', 'Couplet', {}), [
      'INVALID_VALUE',
      'plugin',
      'no-such',
    ]);
    assert.deepEqual(await fails('storage_resource.create_root', 'example-controller', 'Nope', {}), [
      'INVALID_VALUE',
      'class_name',
      'Nope',
    ]);
    assert.deepEqual(await fails('storage_resource.create_root', 'example-controller', 'HardDrive', {}), [
      'INVALID_VALUE',
      'class_name',
      'example-controller.HardDrive is not a scannable resource class',
    ]);
    assert.deepEqual(await couplet({ address_1: 'bad host!', address_2: 'x.example' }), [
      'INVALID_VALUE',
      'attributes',
      'address_1: bad host! is an invalid hostname',
    ]);
    assert.deepEqual(await couplet({ address_1: 'x.example' }), [
      'INVALID_VALUE',
      'attributes',
      'Missing mandatory attribute address_2',
    ]);
    const unknown = await couplet({ address_1: 'x.example', address_2: 'y.example', colour: 'red' });
    assert.equal(unknown[0], 'INVALID_VALUE');
    assert.match(unknown[2], /^Unknown attribute colour \(not one of \['address_1', 'address_2'\]\)$/);
    const dup = await couplet({ address_1: 'array-a.example', address_2: 'b-array-a.example' });
    assert.equal(dup[0], 'INVALID_VALUE');
    assert.match(dup[2], /already exists/);
    // Wrong wire types: the dispatcher's decoding refuses them before the handler, as xapi does.
    const wrong = await fails('storage_resource.create_root', 'example-controller', 'Couplet', 'not a map');
    assert.equal(wrong[0], 'INTERNAL_ERROR');
    assert.equal((await fails('storage_resource.get_all_alerts', 'yes'))[0], 'INTERNAL_ERROR');
    assert.deepEqual(await fails('storage_resource.get_statistic_history', rootRef, 'nope'), [
      'INVALID_VALUE',
      'name',
      'nope',
    ]);
    assert.deepEqual(await fails('storage_resource.destroy_root', 'OpaqueRef:gone'), [
      'HANDLE_INVALID',
      'storage_resource',
      'OpaqueRef:gone',
    ]);
    assert.deepEqual(await fails('storage_resource.get_by_vm', 'OpaqueRef:novm'), [
      'HANDLE_INVALID',
      'VM',
      'OpaqueRef:novm',
    ]);
    const lun = ((await ok('storage_resource.get_by_class', 'example-controller.Lun')) as string[])[0];
    const notRoot = await fails('storage_resource.destroy_root', lun);
    assert.equal(notRoot[0], 'OPERATION_NOT_ALLOWED');
    assert.equal(((await ok('storage_resource.get_all')) as string[]).length, before);
    assert.equal(rt.store.queries.roots().length, roots);
  });

  await t.test('roles: read-only reads, only pool-admin creates and destroys roots', async () => {
    await m.manager.svc.users.add('ro-storage', 'read-only', 'ro-pw');
    const ro = await login(m.httpUrl, 'ro-storage', 'ro-pw');
    assert.equal(((await ro.ok('storage_resource.get_all')) as string[]).length, REPORTED);
    const denied = await ro.fails('storage_resource.create_root', 'example-controller', 'Couplet', {
      address_1: 'ro.example',
      address_2: 'ro2.example',
    });
    assert.equal(denied[0], 'RBAC_PERMISSION_DENIED');
    assert.equal((await ro.fails('storage_resource.destroy_root', rootRef))[0], 'RBAC_PERMISSION_DENIED');
  });

  await t.test('xe: list, param-list, alerts, affected, tree, plugins', async () => {
    const list = await xe(m, ['storage-resource-list', 'class=example-controller.HardDrive', 'params=label']);
    assert.equal(list.code, 0, list.stderr);
    assert.equal(list.stdout, 'label ( RO)    : HardDrive SN-A1\n\n\nlabel ( RO)    : HardDrive SN-A2\n\n\n');
    // The example's RaidPool and Lun override getLabel(): their own labels, not `<class> <id>`.
    for (const [cls, label] of [
      ['Lun', 'lun-seven'],
      ['RaidPool', '1'],
    ]) {
      const own = await xe(m, ['storage-resource-list', `class=example-controller.${cls}`, 'params=label']);
      assert.equal(own.stdout, `label ( RO)    : ${label}\n\n\n`);
    }
    const min = await xe(m, ['storage-resource-list', '--minimal']);
    assert.equal(min.stdout.trim().split(',').length, REPORTED);
    const bad = await xe(m, ['storage-resource-list', 'params=nope']);
    assert.equal(bad.stderr, "Error: Unknown field 'nope'\n");
    const rec = (await ok('storage_resource.get_record', rootRef)) as any;
    const pl = await xe(m, ['storage-resource-param-list', `uuid=${rec.uuid}`]);
    assert.match(pl.stdout, /^uuid \( RO\) +: [0-9a-f-]{36}\n/);
    assert.match(
      pl.stdout,
      /\n +attributes \(MRO\): address_1: array-a\.example; address_2: b-array-a\.example\n/,
    );
    const unknownUuid = await xe(m, ['storage-resource-param-list', 'uuid=nope']);
    assert.equal(unknownUuid.code, 1);
    assert.match(unknownUuid.stderr, /uuid you supplied was invalid|UUID_INVALID/i);

    const alerts = await xe(m, ['storage-resource-alert-list']);
    assert.match(
      alerts.stdout,
      /severity \( RO\): ERROR\n +message \( RO\): Drive failure \(HardDrive HardDrive SN-A2\)/,
    );
    assert.match(alerts.stdout, /Fan slow or stopped/);

    const failed = (
      await Promise.all(
        ((await ok('storage_resource.get_by_class', 'example-controller.HardDrive')) as string[]).map(
          (r) => ok('storage_resource.get_record', r) as Promise<any>,
        ),
      )
    ).find((r) => r.attributes.status === 'FAILED');
    const own = await xe(m, ['storage-resource-alert-list', `uuid=${failed.uuid}`]);
    assert.match(own.stdout, /^resource-uuid \( RO\) *: [0-9a-f-]{36}\n/);
    assert.equal(
      own.stdout.match(/active \( RO\): true/g)?.length,
      failed.alerts.length,
      'own and propagated',
    );
    const aff = await xe(m, ['storage-resource-affected', `uuid=${failed.uuid}`]);
    assert.equal(aff.code, 0, aff.stderr);
    assert.match(
      aff.stdout,
      /storage-resources \(SRO\) +: [0-9a-f-]{36} \(HardDrive SN-A2\); [0-9a-f-]{36} \(1\); [0-9a-f-]{36} \(lun-seven\)\n/,
    );
    assert.match(aff.stdout, /VMs \(SRO\): [0-9a-f-]{36} \(Control domain on host: [^)]*\)\n/);

    const tree = await xe(m, ['storage-resource-tree', `root=${rec.uuid}`]);
    assert.equal(tree.code, 0, tree.stderr);
    assertGolden(
      join(GOLDEN, 'storage-resource-tree.txt'),
      tree.stdout.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<uuid>'),
    );

    const plugins = await xe(m, ['storage-plugin-list']);
    assertGolden(
      join(GOLDEN, 'storage-plugin-list.txt'),
      plugins.stdout
        .replaceAll(m.dataDir ?? '', '<data>')
        .replace(/entry \( RO\): \S+/g, (s) => s.replace(/\/.*\//, '<dir>/')),
    );
  });

  await t.test('xe help: the commands are in the full list and describe themselves', async () => {
    const all = await xe(m, ['help', '--all', '--minimal']);
    for (const c of ['storage-resource-list', 'storage-resource-tree', 'storage-plugin-list'])
      assert.ok(all.stdout.split(',').includes(c), c);
    assert.ok(!(await xe(m, ['help', '--minimal'])).stdout.includes('storage-'), "xapi's common list");
    const h = await xe(m, ['help', 'storage-resource-root-create']);
    assertGolden(join(GOLDEN, 'help-storage-resource-root-create.txt'), h.stdout);
  });

  await t.test('xe: root-create, a second root, root-destroy removes what it reported', async () => {
    arrays.set('array-b.example', { ...structuredClone(ARRAY_A), luns: [], pools: [] });
    t.after(() => arrays.delete('array-b.example'));
    const bad = await xe(m, [
      'storage-resource-root-create',
      'plugin=example-controller',
      'class=Couplet',
      'address_1=array-b.example',
    ]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /Missing mandatory attribute address_2/);
    const made = await xe(m, [
      'storage-resource-root-create',
      'plugin=example-controller',
      'class=example-controller.Couplet',
      'address_1=array-b.example',
      'address_2=array-b2.example',
    ]);
    assert.equal(made.code, 0, made.stderr);
    const uuid = made.stdout.trim();
    // root + 2 controllers + shelf + 2 fans + 2 drives; SN-A1/SN-A2 are ScopedId: a second copy.
    await scanned(ok, REPORTED + 8);
    const gone = await xe(m, ['storage-resource-root-destroy', `uuid=${uuid}`]);
    assert.equal(gone.code, 0, gone.stderr);
    assert.equal(((await ok('storage_resource.get_all')) as string[]).length, REPORTED);
    assert.equal(rt.daemon.roots.length, 1);
    await ok('storage_resource.destroy_root', rootRef);
    assert.deepEqual(await ok('storage_resource.get_all'), []);
    assert.deepEqual(rt.daemon.roots, []);
    // Its alerts were lowered with it and stay as history: none active, all=true shows them.
    assert.equal((await xe(m, ['storage-resource-alert-list'])).stdout, '');
    const history = await xe(m, ['storage-resource-alert-list', 'all=true']);
    assert.match(history.stdout, /message \( RO\): Drive failure[^\n]*\n +active \( RO\): false\n/);
    assert.doesNotMatch(history.stdout, /active \( RO\): true/);
  });
});

test('storage resources off: every call is OPERATION_NOT_ALLOWED', async (t) => {
  const m = await startManager(t, { agent: false, storageResources: false });
  const { fails } = await login(m.httpUrl, 'root', m.rootPassword);
  assert.equal((await fails('storage_resource.get_all'))[0], 'OPERATION_NOT_ALLOWED');
  const r = await xe(m, ['storage-plugin-list']);
  assert.equal(r.code, 1);
});
