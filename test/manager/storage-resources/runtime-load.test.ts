// Plugins loaded at manager start: a directory holding good and broken plugin modules loads the
// good ones and lists every broken one with the loader's error, without throwing.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  loadStoragePlugins,
  pluginPaths,
} from '../../../src/manager/storage-resources/runtime/load-plugins.js';
import { missingVersionMessage } from '../../../src/shared/storage-resources/loader.js';

const dir = join(import.meta.dirname, '../../shared/storage-resources/plugins');

test('a broken plugin module is skipped and listed; the good ones load', async () => {
  const { loader, classes, errored } = await loadStoragePlugins({
    dir,
    packages: ['no-such-storage-plugin-pkg'],
  });
  assert.ok(loader.plugins.has('fake_controller'));
  assert.ok(
    classes.some((c) => c.plugin === 'fake_controller' && c.name === 'FakeController' && c.scannable),
  );
  assert.deepEqual(errored.get('no_version'), [missingVersionMessage()]);
  assert.match(errored.get('two_plugins')?.[0] ?? '', /defines more than one BaseStoragePlugin/);
  assert.match(errored.get('no_plugin')?.[0] ?? '', /does not define a BaseStoragePlugin/);
  assert.ok(errored.has('junk'), 'syntax error listed');
  assert.ok(
    [...errored.keys()].some((k) => k.includes('no-such-storage-plugin-pkg')),
    'a package that does not resolve is listed',
  );
  assert.ok(!loader.plugins.has('no_version'));
});

test('plugin directory off or absent: nothing loaded, nothing errored', async () => {
  for (const d of [null, join(dir, 'does-not-exist')]) {
    const { loader, errored } = await loadStoragePlugins({ dir: d });
    assert.equal(loader.plugins.size, 0);
    assert.equal(errored.size, 0);
  }
  assert.ok(pluginPaths(dir).every((p) => !p.endsWith('.d.ts')));
});
