// Password-guessing limits: pure rules with a fake clock, then a real manager under a parallel
// burst of wrong passwords (other clients connect from other loopback addresses).
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import {
  backoffMs,
  DEFAULT_LOGIN_POLICY,
  type LoginPolicy,
  LoginThrottle,
  loginPolicyFrom,
} from '../../../src/manager/auth/login-throttle.js';
import { startManager } from '../../helpers/manager.js';

const POLICY: LoginPolicy = {
  windowMs: 60_000,
  accountBackoffAfter: 3,
  addressBackoffAfter: 6,
  backoffBaseMs: 100,
  backoffCapMs: 400,
  lockoutAfter: 5,
  lockoutMs: 1500,
  maxConcurrent: 2,
};

test('back-off doubles from its threshold up to the cap; lockout and its expiry', () => {
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 20].map((n) => backoffMs(n, 3, POLICY)),
    [0, 0, 0, 100, 200, 400, 400, 400],
  );
  let now = 1_000_000;
  const t = new LoginThrottle(POLICY, () => now);
  for (let i = 0; i < 3; i++) {
    assert.equal(t.check('u', 'a1'), undefined);
    t.failed('u', 'a1');
  }
  assert.equal(t.check('u', 'a2')?.reason, 'backoff', 'the account is throttled from any address');
  assert.equal(t.check('v', 'a1'), undefined, 'another user from that address is not (yet)');
  now += 100;
  assert.equal(t.check('u', 'a2'), undefined);
  t.failed('u', 'a2');
  assert.equal(t.failed('u', 'a2'), true, 'the 5th failure locks the account');
  assert.equal(t.check('u', 'a3')?.reason, 'locked');
  now += 1499;
  assert.equal(t.check('u', 'a3')?.reason, 'locked');
  now += 1;
  assert.equal(t.check('u', 'a3'), undefined, 'lock expired');
  // Per address: failures for many accounts from one address.
  for (let i = 0; i < 6; i++) t.failed(`x${i}`, 'a9');
  assert.equal(t.check('fresh', 'a9')?.reason, 'backoff');
  assert.equal(t.check('fresh', 'a8'), undefined);
  // Failures leave the window.
  now += 61_000;
  assert.equal(t.check('fresh', 'a9'), undefined);
  t.failed('w', 'b');
  t.succeeded('w');
  t.failed('w', 'b');
  t.failed('w', 'b');
  assert.equal(t.check('w', 'c'), undefined, 'a success forgets the account failures');
});

test('the policy comes from flags and environment; bad numbers are refused', () => {
  const p = loginPolicyFrom({ 'auth-lockout-after': '0' }, { BERTH_AUTH_BACKOFF_CAP_MS: '5000' });
  assert.equal(p.lockoutAfter, 0);
  assert.equal(p.backoffCapMs, 5000);
  assert.equal(p.windowMs, DEFAULT_LOGIN_POLICY.windowMs);
  assert.throws(() => loginPolicyFrom({ 'auth-lockout-ms': '-1' }, {}), /auth-lockout-ms/);
});

/** session.login_with_password over JSON-RPC from a given local address: [ok, error code, ms]. */
function login(url: string, user: string, pw: string, from: string): Promise<[boolean, string, number]> {
  const t0 = Date.now();
  const body = JSON.stringify({
    jsonrpc: '2.0',
    id: 1,
    method: 'session.login_with_password',
    params: [user, pw, '1.0', 'throttle-test'],
  });
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${url}/jsonrpc`,
      {
        method: 'POST',
        localAddress: from,
        agent: false,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => {
          const r = JSON.parse(text);
          resolve([!r.error, r.error?.message ?? '', Date.now() - t0]);
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('a parallel burst of wrong passwords is throttled; others still log in at once', async (t) => {
  // The lockout outlasts the burst (300 connections take a few seconds to arrive here).
  const policy = { ...POLICY, lockoutMs: 8000 };
  const m = await startManager(t, { sessionLimits: { loginPolicy: policy } });
  const { users } = m.manager.svc;
  await users.add('carol', 'read-only', 'right');
  await users.add('dave', 'read-only', 'dave-pw');
  let checks = 0;
  const authenticate = users.authenticate.bind(users);
  users.authenticate = (name, pw) => {
    checks++;
    return authenticate(name, pw);
  };

  const burst = Array.from({ length: 300 }, () => login(m.httpUrl, 'carol', 'guess', '127.0.0.1'));
  // Meanwhile another user from another address: answered as fast as usual.
  const [ok, , ms] = await login(m.httpUrl, 'dave', 'dave-pw', '127.0.0.2');
  assert.ok(ok);
  // Without the limits all 300 guesses were hashed first: 38 s on the 2-core test machine. The
  // bound leaves room for a loaded machine (300 connections are opened by this process too).
  assert.ok(ms < 10_000, `other user logged in in ${ms} ms`);
  const results = await Promise.all(burst);
  assert.ok(results.every(([ok, code]) => !ok && code === 'SESSION_AUTHENTICATION_FAILED'));
  const carolChecks = checks - 1;
  // At most the lockout threshold, plus the checks already running when it locked.
  assert.ok(
    carolChecks <= policy.lockoutAfter + policy.maxConcurrent - 1,
    `${carolChecks} of 300 guesses had their password checked`,
  );

  // Locked: even the right password fails, from any address.
  const [okLocked, code] = await login(m.httpUrl, 'carol', 'right', '127.0.0.3');
  assert.deepEqual([okLocked, code], [false, 'SESSION_AUTHENTICATION_FAILED']);
  await new Promise((r) => setTimeout(r, policy.lockoutMs + 100));
  const [okAfter] = await login(m.httpUrl, 'carol', 'right', '127.0.0.3');
  assert.ok(okAfter, 'the right password works once the lockout expired');
});

test('one address guessing many accounts is throttled by address; other addresses are not', async (t) => {
  // A back-off longer than the burst takes to arrive, even on a loaded machine.
  const m = await startManager(t, {
    sessionLimits: { loginPolicy: { ...POLICY, backoffBaseMs: 10_000, backoffCapMs: 10_000 } },
  });
  const { users } = m.manager.svc;
  await users.add('erin', 'read-only', 'erin-pw');
  let checks = 0;
  const authenticate = users.authenticate.bind(users);
  users.authenticate = (name, pw) => {
    checks++;
    return authenticate(name, pw);
  };
  const burst = await Promise.all(
    Array.from({ length: 100 }, (_, i) => login(m.httpUrl, `nobody${i}`, 'guess', '127.0.0.4')),
  );
  assert.ok(burst.every(([ok]) => !ok));
  assert.ok(checks <= POLICY.addressBackoffAfter + 1, `${checks} of 100 guesses checked`);
  const [fromAttacker] = await login(m.httpUrl, 'erin', 'erin-pw', '127.0.0.4');
  assert.equal(fromAttacker, false, 'the guessing address is in back-off');
  const [fromElsewhere] = await login(m.httpUrl, 'erin', 'erin-pw', '127.0.0.5');
  assert.equal(fromElsewhere, true);
});
