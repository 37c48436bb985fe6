import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { MODEL } from '../../../src/shared/datamodel/generated/model.js';
import { Database } from '../../../src/manager/db/database.js';
import { SqliteBackend } from '../../../src/manager/db/sqlite-backend.js';
import { DEFAULT_SESSION_LIMITS, SessionManager } from '../../../src/manager/auth/sessions.js';
import { UserStore } from '../../../src/manager/auth/users.js';
import { rolePermissions } from '../../../src/manager/auth/roles.js';
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

test('a password login writes the session row xapi writes; a bad password creates nothing', async (t) => {
  const { db, users, sessions } = setup(t);
  await users.add('u', 'vm-admin', 'p');
  const ref = await sessions.loginWithPassword('u', 'p', 'xo', '127.0.0.9');
  const row = db.mustGet('session', ref);
  assert.equal(row.this_host, 'OpaqueRef:host');
  assert.equal(row.auth_user_name, 'u');
  assert.equal(row.is_local_superuser, false);
  assert.equal(row.originator, 'xo');
  assert.equal(row.subject, 'OpaqueRef:NULL');
  assert.equal(row.auth_user_sid, '');
  assert.deepEqual(row.rbac_permissions, rolePermissions(MODEL, 'vm-admin'));
  assert.ok((row.rbac_permissions as string[]).length > 0);
  assert.deepEqual(
    { ...sessions.get(ref), lastActive: 0 },
    { ref, userName: 'u', role: 'vm-admin', superuser: false, originator: 'xo', lastActive: 0 },
  );
  const local = sessions.localLogin();
  assert.equal(db.mustGet('session', local).is_local_superuser, true);
  assert.deepEqual(db.mustGet('session', local).rbac_permissions, []);
  assert.equal(sessions.get(local)?.superuser, true);
  assert.equal(sessions.get(local)?.role, undefined);
  assert.equal(sessions.count(), 2);
  for (const [name, pw] of [
    ['u', 'wrong'],
    ['nobody', 'p'],
  ])
    await assert.rejects(
      sessions.loginWithPassword(name, pw, ''),
      (e: any) =>
        e.code === 'SESSION_AUTHENTICATION_FAILED' &&
        e.params[0] === name &&
        e.params[1] === 'Authentication failure',
    );
  assert.equal(sessions.count(), 2);
  assert.equal(db.count('session'), 2);
  // root logging in with a password is the superuser: no role, RBAC bypassed
  await users.add('root', 'pool-admin', 'r');
  const root = await sessions.loginWithPassword('root', 'r', '');
  assert.equal(sessions.get(root)?.superuser, true);
  assert.equal(sessions.get(root)?.role, undefined);
  assert.equal(db.mustGet('session', root).is_local_superuser, true);
});

test("a subject's roles raise its user's role, never lower it; the session names the subject", async (t) => {
  const { db, users, sessions } = setup(t);
  await users.add('u', 'vm-operator', 'p');
  await users.add('v', 'pool-operator', 'p');
  assert.equal(sessions.currentRole('u'), 'vm-operator');
  assert.equal(sessions.currentRole('nobody'), undefined);
  const admin = db.create('role', { name_label: 'pool-admin' });
  const readOnly = db.create('role', { name_label: 'read-only' });
  const subject = db.create('subject', {
    subject_identifier: 'u',
    roles: [readOnly, admin, 'OpaqueRef:gone'],
  });
  db.create('subject', { subject_identifier: 'v', roles: [readOnly] });
  assert.equal(sessions.currentRole('u'), 'pool-admin');
  assert.equal(sessions.currentRole('v'), 'pool-operator');
  const ref = await sessions.loginWithPassword('u', 'p', '');
  assert.equal(sessions.get(ref)?.role, 'pool-admin');
  assert.equal(db.mustGet('session', ref).subject, subject);
  assert.equal(db.mustGet('session', ref).auth_user_sid, 'u');
});

test('validation re-reads the user: a changed role applies at once, a removed user ends it', async (t) => {
  const { db, users, sessions } = setup(t);
  await users.add('u', 'vm-admin', 'p');
  const ended: string[] = [];
  sessions.onSessionEnd((r) => ended.push(r));
  const ref = await sessions.loginWithPassword('u', 'p', '');
  users.setRole('u', 'read-only');
  assert.equal(sessions.validate(ref).role, 'read-only');
  assert.deepEqual(db.mustGet('session', ref).rbac_permissions, rolePermissions(MODEL, 'read-only'));
  users.remove('u');
  assert.throws(
    () => sessions.validate(ref),
    (e: any) => e.code === 'SESSION_INVALID' && e.params[0] === ref,
  );
  assert.equal(db.has('session', ref), false);
  assert.equal(sessions.get(ref), undefined);
  assert.deepEqual(ended, [ref]);
  // a session whose row was destroyed elsewhere is invalid too
  const local = sessions.localLogin();
  db.destroy('session', local);
  assert.throws(
    () => sessions.validate(local),
    (e: any) => e.code === 'SESSION_INVALID',
  );
});

test('last_active is written back at most every 600 s of activity', (t) => {
  const { db, sessions } = setup(t);
  const ref = sessions.localLogin();
  const info = sessions.get(ref);
  assert.ok(info);
  const old = '20000101T00:00:00Z';
  db.update('session', ref, { last_active: old });
  info.lastActive = Date.now() - 599_000;
  sessions.validate(ref);
  assert.equal(db.mustGet('session', ref).last_active, old, 'recent activity: no write');
  info.lastActive = Date.now() - 601_000;
  const before = Date.now();
  assert.equal(sessions.validate(ref), info);
  assert.notEqual(db.mustGet('session', ref).last_active, old, 'written back');
  assert.ok(info.lastActive >= before, 'activity refreshed');
});

test('logging out users and subjects; open password sessions are the subject identifiers', async (t) => {
  const { users, sessions } = setup(t);
  await users.add('u', 'vm-admin', 'p');
  await users.add('v', 'vm-admin', 'p');
  const ended: string[] = [];
  sessions.onSessionEnd((r) => ended.push(r));
  const u1 = await sessions.loginWithPassword('u', 'p', '');
  const u2 = await sessions.loginWithPassword('u', 'p', '');
  const u3 = await sessions.loginWithPassword('u', 'p', '');
  const v1 = await sessions.loginWithPassword('v', 'p', '');
  const root = sessions.localLogin('u');
  assert.deepEqual(sessions.subjectIdentifiers().sort(), ['u', 'v']);
  sessions.logoutUser('u', u1);
  assert.deepEqual(
    [u1, u2, u3, v1, root].map((r) => !!sessions.get(r)),
    [true, false, false, true, true],
  );
  assert.deepEqual(ended.sort(), [u2, u3].sort());
  sessions.logout(u2); // already gone: no second end event
  assert.equal(ended.length, 2);
  sessions.logoutSubject('u');
  assert.deepEqual(
    [u1, v1, root].map((r) => !!sessions.get(r)),
    [false, true, true],
  );
  assert.deepEqual(sessions.subjectIdentifiers(), ['v']);
  assert.equal(sessions.count(), 2);
});

test('anonymous local sessions have their own cap, apart from originators and users', async (t) => {
  const { users, sessions } = setup(t, { maxAnonymous: 2, maxPerOriginator: 1, maxPerUser: 1 });
  await users.add('u', 'vm-admin', 'p');
  const anon = [0, 1, 2].map(() => sessions.localLogin());
  const xo = sessions.localLogin('xo');
  const other = sessions.localLogin('other');
  const u = await sessions.loginWithPassword('u', 'p', 'xo');
  assert.deepEqual(
    [...anon, xo, other, u].map((r) => !!sessions.get(r)),
    [false, true, true, true, true, true],
  );
  sessions.gc();
  assert.equal(sessions.count(), 5);
});

test('the periodic collector expires idle sessions until stopped', async (t) => {
  const { sessions } = setup(t, { idleMs: 1 });
  sessions.startGc(5);
  t.after(() => sessions.stop());
  const a = sessions.localLogin();
  await new Promise((r) => setTimeout(r, 60));
  assert.equal(sessions.get(a), undefined);
  sessions.stop();
  const b = sessions.localLogin();
  await new Promise((r) => setTimeout(r, 60));
  assert.ok(sessions.get(b));
});
