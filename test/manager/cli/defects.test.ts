// xe defects from issue 12: role-list lists xapi's 6 roles; a reader that goes away
// (`xe help --all | head`) ends xe quietly instead of with an EPIPE stack trace.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { SIGPIPE_STATUS } from '../../../src/clients/xe/broken-pipe.js';
import { startCliManager, xe } from './harness.js';

const XE = join(import.meta.dirname, '../../../src/clients/xe/main.ts');

test('xe role-list prints the roles (subroles<>[]), not every permission', async (t) => {
  const tm = await startCliManager(t);
  const r = await xe(tm, ['role-list', 'params=name', '--minimal']);
  assert.equal(r.code, 0);
  assert.deepEqual(r.stdout.trim().split(','), [
    'pool-admin',
    'pool-operator',
    'vm-power-admin',
    'vm-admin',
    'vm-operator',
    'read-only',
  ]);
  const full = await xe(tm, ['role-list']);
  assert.equal(full.stdout.match(/^uuid /gm)?.length, 6);
  // A permission is still reachable by uuid, as in xapi.
  const session = tm.manager.svc.sessions.localLogin('defects-test');
  const svc = tm.manager.svc;
  const perms = (await svc.call(svc.sessions.validate(session), 'role.get_by_name_label', [
    'vm.start',
  ])) as string[];
  assert.equal(perms.length, 1);
  const uuid = await svc.call(svc.sessions.validate(session), 'role.get_uuid', [perms[0]]);
  const one = await xe(tm, ['role-param-get', `uuid=${uuid}`, 'param-name=name']);
  assert.equal(one.stdout, 'vm.start\n');
});

test('xe help --all into a closed pipe exits quietly (no EPIPE trace)', async (t) => {
  const tm = await startCliManager(t);
  const child = spawn(process.execPath, ['--import', 'tsx', XE, 'help', '--all'], {
    env: { ...process.env, BERTH_XAPI_SOCKET: tm.socketPath, HOME: tm.dataDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // The reader is gone before xe writes anything, as with `| head` once head has its lines.
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  assert.equal(stderr, '');
  assert.equal(code, SIGPIPE_STATUS);
});

test('xe vm-param-set memory-* takes sizes with units, as xapi (Record_util.bytes_of_string)', async (t) => {
  const tm = await startCliManager(t);
  const inst = await xe(tm, ['vm-install', 'new-name-label=units', 'template=Berth test guest']);
  assert.equal(inst.code, 0, inst.stderr);
  const uuid = inst.stdout.trim();
  const set = await xe(tm, [
    'vm-param-set',
    `uuid=${uuid}`,
    'memory-static-max=512MiB',
    'memory-dynamic-max=512MiB',
  ]);
  assert.equal(set.code, 0, set.stderr);
  const got = await xe(tm, ['vm-param-get', `uuid=${uuid}`, 'param-name=memory-static-max']);
  assert.equal(got.stdout, `${512 * 2 ** 20}\n`);
  const bad = await xe(tm, ['vm-param-set', `uuid=${uuid}`, 'memory-static-max=lots']);
  assert.notEqual(bad.code, 0);
  assert.match(
    bad.stderr,
    /Failed to parse field 'memory-static-max': expecting an integer \(possibly with suffix KiB, MiB, GiB, TiB\), got 'lots'/,
  );
});
