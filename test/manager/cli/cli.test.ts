// End to end: the thin client against a real manager with the CLI handler on POST /cli.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { assertGolden } from '../../helpers/golden.js';
import { startCliManager, xe } from './harness.js';

const GOLDEN = join(import.meta.dirname, 'golden');

/** Compares with a golden file (UPDATE_GOLDEN=1 rewrites it, refused under CI). */
function golden(name: string, actual: string) {
  assertGolden(join(GOLDEN, name), actual);
}

test('xe CLI end to end', async (t) => {
  const tm = await startCliManager(t);

  await t.test('help layouts', async () => {
    const h = await xe(tm, ['help']);
    assert.equal(h.code, 0);
    golden('help.txt', h.stdout);
    golden('help-vm-shutdown.txt', (await xe(tm, ['help', 'vm-shutdown'])).stdout);
    const all = await xe(tm, ['help', '--all', '--minimal']);
    assert.ok(all.stdout.split(',').includes('vm-param-set'));
    assert.equal((await xe(tm, ['help', 'no-such'])).stdout, "Unknown command 'no-such'\n");
  });

  await t.test('lists, --minimal, params= and record layout', async () => {
    const tl = await xe(tm, ['template-list', 'name-label=Berth test guest', 'params=uuid,name-label']);
    assert.match(
      tl.stdout,
      /^uuid \( RO\) {10}: [0-9a-f-]{36}\n {4}name-label \( RW\): Berth test guest\n\n\n$/,
    );
    const none = await xe(tm, ['vm-list', 'name-label=nothing', '--minimal']);
    assert.deepEqual(none, { code: 0, stdout: '\n', stderr: '' });
    const bad = await xe(tm, ['vm-list', 'no-such-field=1']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr, "Error: Unknown field 'no-such-field'\n");
  });

  await t.test('install, param-set/get/add/remove, clone, uninstall', async () => {
    const inst = await xe(tm, ['vm-install', 'new-name-label=web,01', 'template=Berth test guest']);
    assert.equal(inst.code, 0, inst.stderr);
    const uuid = inst.stdout.trim();
    assert.match(uuid, /^[0-9a-f-]{36}$/);
    const found = await xe(tm, ['vm-list', 'name-label=web,01', 'params=name-label', '--minimal']);
    assert.equal(found.stdout, 'web\\,01\n');
    assert.equal(
      (await xe(tm, ['vm-param-get', `uuid=${uuid}`, 'param-name=name-description'])).stdout,
      'Installed via xe CLI\n',
    );
    assert.equal(
      (await xe(tm, ['vm-param-get', `uuid=${uuid}`, 'param-name=power-state'])).stdout,
      'halted\n',
    );
    const set = await xe(tm, [
      'vm-param-set',
      `uuid=${uuid}`,
      'name-description=hello',
      'other-config:foo=bar',
    ]);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(
      (await xe(tm, ['vm-param-get', `uuid=${uuid}`, 'param-name=other-config', 'param-key=foo'])).stdout,
      'bar\n',
    );
    assert.equal((await xe(tm, ['vm-list', 'other-config:foo=bar', '--minimal'])).stdout, `${uuid}\n`);
    const ro = await xe(tm, ['vm-param-set', `uuid=${uuid}`, 'power-state=running']);
    assert.equal(ro.stderr, "Error: Field 'power-state' is read-only.\n");
    assert.equal(
      (await xe(tm, ['vm-param-add', `uuid=${uuid}`, 'param-name=tags', 'param-key=web'])).code,
      0,
    );
    assert.equal((await xe(tm, ['vm-list', 'tags:contains=web', '--minimal'])).stdout, `${uuid}\n`);
    const rm = await xe(tm, ['vm-param-remove', `uuid=${uuid}`, 'param-name=tags', 'param-key=nope']);
    assert.equal(rm.stderr, 'Error: Key nope is not in the set\n');
    const pl = await xe(tm, ['vm-param-list', `uuid=${uuid}`]);
    assert.match(pl.stdout, /^uuid \( RO\) +: /);
    assert.match(pl.stdout, /\n +other-config \(MRW\): (.*; )?foo: bar(;.*)?\n/);
    assert.match(pl.stdout, /\n +tags \(SRW\): web\n/);

    const clone = await xe(tm, ['vm-clone', `uuid=${uuid}`, 'new-name-label=web02']);
    assert.equal(clone.code, 0, clone.stderr);
    const cuuid = clone.stdout.trim();
    assert.equal(
      (await xe(tm, ['vm-param-get', `uuid=${cuuid}`, 'param-name=name-label'])).stdout,
      'web02\n',
    );

    const ask = await xe(tm, ['vm-uninstall', `uuid=${cuuid}`], { stdin: 'no\n' });
    assert.match(
      ask.stdout,
      /^The following items are about to be destroyed\nVM : [0-9a-f-]{36} \(web02\)\n/,
    );
    assert.match(ask.stdout, /Type 'yes' to continue\nAborted \(you typed: 'no'\)\n$/);
    const del = await xe(tm, ['vm-uninstall', `uuid=${cuuid}`, '--force']);
    assert.equal(del.code, 0, del.stderr);
    assert.match(del.stdout, /All objects destroyed\n$/);
    assert.equal((await xe(tm, ['vm-list', `uuid=${cuuid}`, '--minimal'])).stdout, '\n');
  });

  await t.test('selectors and errors', async () => {
    const multi = await xe(tm, ['vm-shutdown', 'is-control-domain=false', 'power-state=running']);
    assert.deepEqual([multi.code, multi.stderr], [1, 'Error: No matching VMs found\n']);
    const unknown = await xe(tm, ['frobnicate']);
    assert.deepEqual(
      [unknown.code, unknown.stderr],
      [1, "Unknown command: frobnicate\nFor usage run: 'xe help'\n"],
    );
    const missing = await xe(tm, ['vm-clone', 'uuid=x']);
    assert.equal(missing.stderr, "Required parameter not found: new-name-label\nFor usage run: 'xe help'\n");
    const badUuid = await xe(tm, ['vm-param-list', 'uuid=nope']);
    assert.equal(badUuid.stderr, 'The uuid you supplied was invalid.\ntype: VM\nuuid: nope\n');
    const syntax = await xe(tm, ['vm-list', '-x']);
    assert.equal(syntax.stderr, "Syntax error: \nFor usage run: 'xe help'\n");
  });

  await t.test('password logins over TCP', async () => {
    const ok = await xe(tm, ['host-list', '--minimal'], { via: 'tcp' });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /^[0-9a-f-]{36}\n$/);
    const bad = await xe(tm, ['host-list'], { via: 'tcp', password: 'wrong' });
    assert.deepEqual([bad.code, bad.stderr], [1, "Authentication failed\nFor usage run: 'xe help'\n"]);
  });
});
