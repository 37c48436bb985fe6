// Argument parsing, failure shapes and locks.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { commaList, flag, jsonArg, required, strtobool } from '../../../src/agent/plugins/args.js';
import { PluginFailure, failureParams, pyRepr } from '../../../src/agent/plugins/failure.js';
import { BusyLock, OperationLock } from '../../../src/agent/plugins/locks.js';

const failsWith = (fn: () => unknown, message: string) =>
  assert.throws(fn, (e: unknown) => e instanceof PluginFailure && e.code === '-1' && e.message === message);

describe('arguments', () => {
  it('parses booleans like strtobool', () => {
    for (const t of ['1', 'true', 'True', 'yes', 'on', 'y', 't']) assert.equal(strtobool(t), true, t);
    for (const f of ['0', 'false', 'no', 'off', 'n', 'f', '', undefined])
      assert.equal(strtobool(f), false, String(f));
    failsWith(() => strtobool('maybe'), "invalid truth value 'maybe'");
    failsWith(() => flag({ force: 'maybe' }, 'force'), "invalid truth value 'maybe'");
    assert.equal(flag({}, 'force'), false);
  });

  it('reports a missing key as upstream (the quoted key), with a readable detail', () => {
    const e = (() => {
      try {
        required({}, 'vg_name');
      } catch (x) {
        return x as PluginFailure;
      }
    })();
    assert.deepEqual(failureParams(e), ['-1', "'vg_name'", "missing required argument 'vg_name'"]);
    assert.equal(required({ vg_name: '' }, 'vg_name'), '');
  });

  it('splits comma lists and refuses empty items', () => {
    assert.deepEqual(commaList('/dev/sdb,/dev/sdc', 'devices'), ['/dev/sdb', '/dev/sdc']);
    assert.deepEqual(commaList(' /dev/sdb , /dev/sdc', 'devices'), ['/dev/sdb', '/dev/sdc']);
    failsWith(
      () => commaList('/dev/sdb,,/dev/sdc', 'devices'),
      "Empty item in comma-separated argument 'devices'",
    );
  });

  it('parses JSON arguments', () => {
    assert.deepEqual(jsonArg({ p: '{"a":"b"}' }, 'p'), { a: 'b' });
    failsWith(() => jsonArg({ p: '{a' }, 'p'), "Argument 'p' is not valid JSON");
  });

  it('prints commands like python', () => {
    assert.equal(pyRepr(['ipmitool', 'sdr', 'list']), "['ipmitool', 'sdr', 'list']");
    assert.equal(pyRepr(["it's", 'a\nb']), `["it's", 'a\\nb']`);
  });
});

describe('locks', () => {
  it('a busy plugin refuses a second caller at once and frees itself after errors', async () => {
    const lock = new BusyLock();
    let release!: () => void;
    const first = lock.with(() => new Promise<string>((r) => (release = () => r('done'))));
    await assert.rejects(
      lock.with(async () => 'second'),
      { message: 'The plugin is busy.' },
    );
    release();
    assert.equal(await first, 'done');
    await assert.rejects(lock.with(async () => Promise.reject(new Error('x'))));
    assert.equal(await lock.with(async () => 'again'), 'again');
  });

  it('the updater lock names the current operation and refuses at once without a wait', async () => {
    const lock = new OperationLock();
    const release = await lock.acquire('check_update', 0);
    await assert.rejects(lock.acquire('get_proxies', 0), {
      message: 'The updater plugin is busy (current operation: check_update)',
    });
    release();
    release(); // idempotent
    assert.equal(lock.operation, null);
  });

  it('an update never waits behind another update', async () => {
    const lock = new OperationLock();
    const release = await lock.acquire('update', 10_000);
    const t0 = Date.now();
    await assert.rejects(lock.acquire('update', 10_000), { message: 'Update already in progress' });
    assert.ok(Date.now() - t0 < 1000);
    release();
  });

  it('an update waits for another operation, up to its limit', async () => {
    const lock = new OperationLock();
    const release = await lock.acquire('check_update', 0);
    const waiting = lock.acquire('update', 2000);
    setTimeout(release, 50);
    const releaseUpdate = await waiting;
    assert.equal(lock.operation, 'update');
    releaseUpdate();
    const held = await lock.acquire('set_proxies', 0);
    const t0 = Date.now();
    await assert.rejects(lock.acquire('install', 200), {
      message: 'The updater plugin is busy (current operation: set_proxies)',
    });
    assert.ok(Date.now() - t0 >= 190);
    held();
    assert.equal(lock.operation, null);
  });
});
