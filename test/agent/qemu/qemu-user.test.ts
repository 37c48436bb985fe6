// scripts/qemu-user.sh: the one place the QEMU user is made (berth-up.sh and test.sh both call
// it, so the suite runs QEMU as berth-qemu as every set-up host does). Run here under a throwaway
// name, never berth-qemu itself (its appearance would switch other agents on the machine to it).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { lookupUser } from '../../../src/agent/qemu/proc.js';
import { ROOT } from '../helpers/guest.js';

test('qemu-user.sh creates a system user without login, idempotently', (t) => {
  const name = `bq-t${randomBytes(3).toString('hex')}`;
  t.after(() => spawnSync('userdel', [name]));
  const script = join(ROOT, 'scripts/qemu-user.sh');
  execFileSync(script, [name]);
  const first = lookupUser(name);
  assert.ok(first, 'user exists');
  assert.ok(first.uid > 0 && first.uid < 1000, `system uid (${first.uid})`);
  execFileSync(script, [name]);
  assert.deepEqual(lookupUser(name), first, 'a second run changes nothing');
  const entry = execFileSync('getent', ['passwd', name], { encoding: 'utf8' });
  assert.match(entry, /:\/nonexistent:\/usr\/sbin\/nologin\n?$/);
});

test('test.sh and berth-up.sh both make the QEMU user through qemu-user.sh, before the tests/daemons', () => {
  const testSh = readFileSync(join(ROOT, 'scripts/test.sh'), 'utf8');
  assert.ok(testSh.indexOf('scripts/qemu-user.sh') > 0);
  assert.ok(testSh.indexOf('scripts/qemu-user.sh') < testSh.indexOf('npm test'));
  const up = readFileSync(join(ROOT, 'scripts/berth-up.sh'), 'utf8');
  assert.ok(up.includes('scripts/qemu-user.sh'));
  assert.ok(!up.includes('useradd'), 'one copy of the user creation');
  assert.ok(readFileSync(join(ROOT, '.ci/run'), 'utf8').includes('scripts/test.sh'));
});
