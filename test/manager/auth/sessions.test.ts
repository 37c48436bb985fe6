import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { MODEL } from '../../../src/shared/datamodel/generated/model.js';
import { Database } from '../../../src/manager/db/database.js';
import { SqliteBackend } from '../../../src/manager/db/sqlite-backend.js';
import { DEFAULT_SESSION_LIMITS, SessionManager } from '../../../src/manager/auth/sessions.js';
import { UserStore } from '../../../src/manager/auth/users.js';
import { hashPassword, verifyPassword } from '../../../src/manager/auth/passwords.js';
import { TaskManager } from '../../../src/manager/tasks/task-manager.js';
import { tempDir } from '../../helpers/tmp.js';

function setup(t: import('node:test').TestContext, limits = {}) {
  const backend = new SqliteBackend(join(tempDir(t), 'berth.db'), MODEL);
  t.after(() => backend.close());
  const db = new Database(MODEL, backend);
  const users = new UserStore(backend);
  const sessions = new SessionManager(db, users, () => 'OpaqueRef:host', {
    ...DEFAULT_SESSION_LIMITS,
    authFailureDelayMs: 1,
    ...limits,
  });
  return { db, users, sessions };
}

test('scrypt hashes verify and differ per salt', async () => {
  const a = await hashPassword('pw');
  const b = await hashPassword('pw');
  assert.notEqual(a, b);
  assert.ok(await verifyPassword('pw', a));
  assert.ok(!(await verifyPassword('nope', a)));
  assert.ok(!(await verifyPassword('pw', 'garbage')));
});

test('caps evict the least recently used sessions per originator and per user', async (t) => {
  const { sessions, users } = setup(t, { maxPerOriginator: 3, maxPerUser: 2, maxAnonymous: 4 });
  const a = [0, 1, 2, 3, 4].map(() => sessions.localLogin('xo'));
  assert.equal(a.filter((s) => sessions.get(s)).length, 3);
  assert.ok(!sessions.get(a[0]) && !sessions.get(a[1]), 'oldest went first');
  await users.add('u', 'read-only', 'p');
  const u = [];
  for (let i = 0; i < 4; i++) u.push(await sessions.loginWithPassword('u', 'p', ''));
  assert.equal(u.filter((s) => sessions.get(s)).length, 2);
  // Touching a session makes it recent: it survives the next eviction.
  sessions.validate(a[2]);
  sessions.localLogin('xo');
  assert.ok(sessions.get(a[2]));
  assert.ok(!sessions.get(a[3]));
});

test('idle sessions expire after the idle limit; validation of unknown refs fails', (t) => {
  const { sessions, db } = setup(t, { idleMs: 1000 });
  const s = sessions.localLogin();
  sessions.gc(Date.now() + 500);
  assert.ok(sessions.get(s));
  sessions.gc(Date.now() + 5000);
  assert.equal(sessions.get(s), undefined);
  assert.equal(db.has('session', s), false);
  assert.throws(
    () => sessions.validate(s),
    (e: any) => e.code === 'SESSION_INVALID' && e.params[0] === s,
  );
  assert.throws(
    () => sessions.validate(42),
    (e: any) => e.code === 'SESSION_INVALID',
  );
});

test('neither the session cap nor idle expiry ends a session with a running task (xapi)', async (t) => {
  const backend = new SqliteBackend(join(tempDir(t), 'berth.db'), MODEL);
  t.after(() => backend.close());
  const db = new Database(MODEL, backend);
  const users = new UserStore(backend);
  const tasks = new TaskManager(
    db,
    () => 'OpaqueRef:host',
    () => '',
  );
  const sessions = new SessionManager(
    db,
    users,
    () => 'OpaqueRef:host',
    { ...DEFAULT_SESSION_LIMITS, authFailureDelayMs: 1, maxPerUser: 2, idleMs: 1000 },
    (s) => tasks.isBusySession(s),
  );
  await users.add('u', 'vm-admin', 'p');
  const a = await sessions.loginWithPassword('u', 'p', '');
  const b = await sessions.loginWithPassword('u', 'p', '');
  const task = tasks.create('VM.start', { session: a, userName: 'u' });
  // Over the cap: the oldest session (a) runs a task, so the next oldest (b) goes.
  const c = await sessions.loginWithPassword('u', 'p', '');
  assert.ok(sessions.get(a), 'the busy oldest session stays');
  assert.equal(sessions.get(b), undefined, 'the oldest idle one goes');
  assert.ok(sessions.get(c));
  // Once its task has finished it is an ordinary oldest session again.
  tasks.succeed(task, '');
  const d = await sessions.loginWithPassword('u', 'p', '');
  assert.equal(sessions.get(a), undefined);
  assert.deepEqual([!!sessions.get(c), !!sessions.get(d)], [true, true]);
  // Idle expiry spares the session whose task runs.
  const long = tasks.create('VM.clone', { session: c, userName: 'u' });
  sessions.gc(Date.now() + 5000);
  assert.ok(sessions.get(c), 'busy session not expired');
  assert.equal(sessions.get(d), undefined, 'idle session expired');
  tasks.succeed(long, '');
  sessions.gc(Date.now() + 5000);
  assert.equal(sessions.get(c), undefined);
});

test('at start-up, sessions of users removed meanwhile are dropped; others keep the current role', async (t) => {
  const { db, users, sessions } = setup(t);
  await users.add('gone', 'vm-admin', 'p');
  await users.add('kept', 'vm-admin', 'p');
  const a = await sessions.loginWithPassword('gone', 'p', '');
  const b = await sessions.loginWithPassword('kept', 'p', '');
  users.remove('gone');
  users.setRole('kept', 'read-only');
  const restarted = new SessionManager(db, users, () => 'OpaqueRef:host', {
    ...DEFAULT_SESSION_LIMITS,
    authFailureDelayMs: 1,
  });
  assert.equal(db.has('session', a), false);
  assert.equal(restarted.get(a), undefined);
  assert.equal(restarted.validate(b).role, 'read-only');
});
