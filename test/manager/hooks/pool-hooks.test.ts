// host-join and host-eject hooks on a real two-member pool in this process (pool harness: real
// agents running real scripts from their hooks dirs, real managers): a failing pre hook refuses
// pool.join on the joining host and pool.eject on the member, both pools unchanged; a passing
// join runs the post hooks with the master's address and never the password.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { expectError } from '../pool/expect.js';
import { startPoolHosts } from '../pool/harness.js';

function script(dir: string, name: string, body: string) {
  mkdirSync(dir, { recursive: true, mode: 0o755 }); // never group-writable, whatever the umask
  writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
  chmodSync(join(dir, name), 0o755);
}

test('pool.join / pool.eject refused by pre hooks; join post hooks see the master, not the password', {
  timeout: 120_000,
}, async (t) => {
  const { members } = await startPoolHosts(t, [{}, {}]);
  const [m, j] = members;
  const cj = await j.client();
  const cm = await m.client();
  script(join(j.hooksDir, 'host-join-pre.d'), '10-gate', 'echo "joins need a change ticket"; exit 1');
  const e = await expectError(cj.call('pool.join', m.address, 'root', m.rootPassword), 'XAPI_HOOK_FAILED');
  assert.equal(e.params[0], 'host-join-pre.d/10-gate');
  assert.equal(e.params[2], 'joins need a change ticket\n');
  assert.equal(Object.keys(await cm.call('host.get_all_records')).length, 1);
  assert.equal(Object.keys(await cj.call('host.get_all_records')).length, 1);

  script(join(j.hooksDir, 'host-join-pre.d'), '10-gate', 'exit 0');
  script(join(j.hooksDir, 'host-join-post.d'), '10-env', `env > ${join(j.hooksDir, 'join.env')}`);
  await cj.call('pool.join', m.address, 'root', m.rootPassword);
  const hosts = await cm.call('host.get_all_records');
  assert.equal(Object.keys(hosts).length, 2);
  const env = readFileSync(join(j.hooksDir, 'join.env'), 'utf8');
  assert.match(env, new RegExp(`^BERTH_JOIN_MASTER_ADDRESS=${m.address.replaceAll('.', '\\.')}$`, 'm'));
  assert.match(env, /^BERTH_OP_CODE=pool\.join$/m);
  assert.match(env, /^BERTH_HOOKS_PHASE=post$/m);
  assert.ok(!env.includes(m.rootPassword), 'the password reached a hook');

  // The master runs host-eject pre hooks on the member too: the member's refusal keeps it in.
  const jRef = Object.keys(hosts).find((r) => hosts[r].uuid === j.hostUuid)!;
  script(join(j.hooksDir, 'host-eject-pre.d'), '10-gate', 'echo "$BERTH_NODE_UUID stays"; exit 1');
  const ej = await expectError(cm.call('pool.eject', jRef), 'XAPI_HOOK_FAILED');
  assert.equal(ej.params[0], 'host-eject-pre.d/10-gate');
  assert.equal(ej.params[2], `${j.hostUuid} stays\n`);
  assert.equal(Object.keys(await cm.call('host.get_all_records')).length, 2);
});
