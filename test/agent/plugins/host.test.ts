// The plugin host: name resolution, argument checks, error mapping, executable plugins.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { definePlugin } from '../../../src/agent/plugins/types.js';
import { OsError, PluginFailure, ProcessError } from '../../../src/agent/plugins/failure.js';
import { failure, host, tempDir } from './helpers.js';

const echo = definePlugin('echo', {
  async args(args) {
    return JSON.stringify(args);
  },
  async explicit() {
    throw new PluginFailure('LVM_ERROR(5)', 'stderr text', 'more');
  },
  async os() {
    throw new OsError(13, 'Permission denied', '/etc/x');
  },
  async proc() {
    throw new ProcessError(3, ['zfs', 'get'], 'out', "it's bad");
  },
  async node() {
    const { readFile } = await import('node:fs/promises');
    return readFile('/nonexistent/berth-plugin-test', 'utf8');
  },
  async generic() {
    throw new Error('boom');
  },
});

describe('plugin host', () => {
  const dir = tempDir('plugins');
  const h = host({ plugins: [echo], pluginDir: dir.path, externalTimeoutMs: 1500 });
  const script = (name: string, body: string, mode = 0o755) => {
    const p = join(dir.path, name);
    writeFileSync(p, `#!/bin/sh\n${body}\n`);
    chmodSync(p, mode);
    return p;
  };
  before(() => {
    script('hello', 'echo "fn=$1 name=$BERTH_PLUGIN_NAME"; cat');
    script('hello2.py', 'echo py');
    script('declared', `echo '["MY_CODE", "it failed", "because"]'; exit 3`);
    script('crash', 'echo partial; echo oops >&2; exit 2');
    script('suicide', 'kill -SEGV $$');
    // A plugin that hangs and leaves a background child holding stdout open.
    script('hang', `sleep 30 & echo "$!" > ${join(dir.path, 'bg.pid')}; sleep 30`);
    script('noexec', 'echo never', 0o644);
  });
  after(() => dir.cleanup());

  it('accepts names with and without .py and passes arguments through', async () => {
    assert.equal(await h.call('echo', 'args', { a: '1' }), '{"a":"1"}');
    assert.equal(await h.call('echo.py', 'args', {}), '{}');
  });

  it('reports a missing plugin and an unknown function as xapi does', async () => {
    assert.deepEqual(await failure(h.call('nope.py', 'x', {})), ['XENAPI_MISSING_PLUGIN', 'nope.py']);
    assert.deepEqual(await failure(h.call('echo', 'nope', {})), ['UNKNOWN_XENAPI_PLUGIN_FUNCTION', 'nope']);
    // Object prototype names are not functions.
    assert.deepEqual(await failure(h.call('echo', 'constructor', {})), [
      'UNKNOWN_XENAPI_PLUGIN_FUNCTION',
      'constructor',
    ]);
  });

  it('rejects non-string arguments', async () => {
    const d = await failure(h.call('echo', 'args', { a: 1 as unknown as string }));
    assert.deepEqual(d, ['XENAPI_PLUGIN_FAILURE', '-1', "argument 'a' is not a string", '']);
  });

  it('maps failures to XENAPI_PLUGIN_FAILURE [code, message, details]', async () => {
    assert.deepEqual(await failure(h.call('echo', 'explicit', {})), [
      'XENAPI_PLUGIN_FAILURE',
      'LVM_ERROR(5)',
      'stderr text',
      'more',
    ]);
    assert.deepEqual(await failure(h.call('echo', 'os', {})), [
      'XENAPI_PLUGIN_FAILURE',
      '13',
      'Permission denied',
      '/etc/x',
    ]);
    assert.deepEqual(await failure(h.call('echo', 'proc', {})), [
      'XENAPI_PLUGIN_FAILURE',
      '3',
      "Command '['zfs', 'get']' failed with code: 3",
      `stdout: 'out', stderr: "it's bad"`,
    ]);
    const node = await failure(h.call('echo', 'node', {}));
    assert.equal(node[1], '2');
    assert.equal(node[3], '/nonexistent/berth-plugin-test');
    assert.deepEqual(await failure(h.call('echo', 'generic', {})), [
      'XENAPI_PLUGIN_FAILURE',
      '-1',
      'boom',
      '',
    ]);
  });

  describe('executable plugins', () => {
    it('runs the executable with fn as argv[1] and the args as JSON on stdin', async () => {
      assert.equal(await h.call('hello', 'greet', { who: 'world' }), 'fn=greet name=hello\n{"who":"world"}');
    });

    it('finds name.py for name and name for name.py', async () => {
      assert.equal(await h.call('hello2', 'x', {}), 'py');
      assert.equal(await h.call('hello.py', 'x', {}).then((s) => s.split('\n')[0]), 'fn=x name=hello.py');
    });

    it('uses a declared failure, else xapi\'s "non-zero exit", and reports signals', async () => {
      assert.deepEqual(await failure(h.call('declared', 'x', {})), [
        'XENAPI_PLUGIN_FAILURE',
        'MY_CODE',
        'it failed',
        'because',
      ]);
      assert.deepEqual(await failure(h.call('crash', 'x', {})), [
        'XENAPI_PLUGIN_FAILURE',
        'non-zero exit',
        'partial\n',
        'oops\n',
      ]);
      const d = await failure(h.call('suicide', 'x', {}));
      assert.equal(d[1], 'signal: SIGSEGV');
    });

    it('kills a plugin at the time limit, with what it started, and does not hang', async () => {
      const t0 = Date.now();
      const d = await failure(h.call('hang', 'x', {}));
      const took = Date.now() - t0;
      assert.equal(d[1], 'timeout');
      assert.ok(took < 5000, `took ${took} ms`);
      const { readFileSync } = await import('node:fs');
      const bg = Number(readFileSync(join(dir.path, 'bg.pid'), 'utf8'));
      await new Promise((r) => setTimeout(r, 100));
      // Gone, or a zombie waiting for init to reap it: either way no longer running.
      const state = existsSync(`/proc/${bg}/stat`)
        ? readFileSync(`/proc/${bg}/stat`, 'utf8').replace(/^.*\) /, '')[0]
        : 'gone';
      assert.ok(state === 'gone' || state === 'Z', `background child still running (state ${state})`);
    });

    it('refuses path traversal, hidden and non-executable files', async () => {
      for (const bad of ['../hello', '/bin/sh', 'a/b', '.hidden', '..', '', 'noexec']) {
        const d = await failure(h.call(bad, 'x', {}));
        assert.deepEqual(d, ['XENAPI_MISSING_PLUGIN', bad]);
      }
    });

    it('refuses function names that could read as options', async () => {
      assert.deepEqual(await failure(h.call('hello', '--help', {})), [
        'UNKNOWN_XENAPI_PLUGIN_FUNCTION',
        '--help',
      ]);
    });

    it('lists built-ins with their functions and executables', async () => {
      const list = await h.list();
      const names = list.map((p) => p.name);
      assert.ok(names.includes('echo') && names.includes('hello') && names.includes('declared'));
      assert.ok(!names.includes('noexec'));
      assert.deepEqual(list.find((p) => p.name === 'echo')?.functions, [
        'args',
        'explicit',
        'generic',
        'node',
        'os',
        'proc',
      ]);
      assert.equal(list.find((p) => p.name === 'hello')?.kind, 'executable');
    });
  });
});
