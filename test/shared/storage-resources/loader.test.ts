import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../../src/clients/storage-plugin/main.js';
import { PluginLoader, validatePlugin } from '../../../src/shared/storage-resources/loader.js';

const dir = join(import.meta.dirname, 'plugins');
const plugin = (f: string) => join(dir, f);
const example = join(import.meta.dirname, '../../../examples/storage-plugins/example-controller.ts');

test('valid plugins validate with no errors: example, fake_controller, thousand_drives, package dir', async () => {
  for (const p of [
    example,
    plugin('fake_controller.mjs'),
    plugin('thousand_drives.ts'),
    plugin('package_plugin'),
  ]) {
    const r = await validatePlugin(p);
    assert.deepEqual(r.errors, [], p);
  }
  assert.equal((await validatePlugin(plugin('package_plugin'))).name, 'package_plugin');
  assert.equal((await validatePlugin(example)).name, 'example-controller');
});

test('a junk file gives exactly one SyntaxError: <file>:<line>:<offset>: <text>', async () => {
  const r = await validatePlugin(plugin('junk.mjs'));
  assert.equal(r.errors.length, 1);
  assert.equal(r.errors[0], `SyntaxError: ${plugin('junk.mjs')}:4:32:   initialScan() { return [1, 2,; }`);
});

test('a TypeScript syntax error is located too', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const tmp = mkdtempSync(join(import.meta.dirname, 'plugins/tmp-'));
  try {
    writeFileSync(join(tmp, 'broken.ts'), 'export const version = 1;\nconst x: number = ;\n');
    const r = await validatePlugin(join(tmp, 'broken.ts'));
    assert.deepEqual(r.errors, [`SyntaxError: ${join(tmp, 'broken.ts')}:2:19: const x: number = ;`]);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('version: missing, wrong, not an int', async () => {
  assert.deepEqual((await validatePlugin(plugin('no_version.mjs'))).errors, [
    'Add version=<int> to your plugin module. Consult Comand Center documentation for API version supported.',
  ]);
  assert.deepEqual((await validatePlugin(plugin('wrong_version.mjs'))).errors, [
    'The plugin declares version 2. However, this manager server version supports version 1 of the Plugin API.',
  ]);
  assert.deepEqual((await validatePlugin(plugin('string_version.mjs'))).errors, [
    'The plugin declares version 1. However, this manager server version supports version 1 of the Plugin API.',
  ]);
});

test('zero or two plugin classes', async () => {
  assert.deepEqual((await validatePlugin(plugin('no_plugin.mjs'))).errors, [
    'Module no_plugin does not define a BaseStoragePlugin!',
  ]);
  assert.deepEqual((await validatePlugin(plugin('two_plugins.mjs'))).errors, [
    "Module two_plugins defines more than one BaseStoragePlugin: [<class 'two_plugins.PluginA'>, <class 'two_plugins.PluginB'>]!",
  ]);
});

test('resource programming errors: missing identifier, clashing alert classes, unknown relation target', async () => {
  assert.deepEqual((await validatePlugin(plugin('no_identifier.mjs'))).errors, [
    "Resource class 'Thing': No Meta.identifier",
  ]);
  assert.deepEqual((await validatePlugin(plugin('alert_clash.mjs'))).errors, [
    "Resource class 'Disk': Multiple AlertConditions on the same attribute must be disambiguated with 'id' parameters.",
  ]);
  assert.deepEqual((await validatePlugin(plugin('unknown_relation.mjs'))).errors, [
    "Resource class 'Lun': relation to unknown class nosuchplugin.Device",
  ]);
});

test('a missing file is an ImportError; loading a module twice is a duplicate', async () => {
  const r = await validatePlugin(plugin('nonexistent.mjs'));
  assert.deepEqual(r.errors, [`ImportError: No module named ${plugin('nonexistent.mjs')}`]);
  const loader = new PluginLoader();
  await loader.load(plugin('fake_controller.mjs'));
  await assert.rejects(loader.load(plugin('fake_controller.mjs')), (e: Error & { errors: string[] }) => {
    assert.deepEqual(e.errors, ['Duplicate storage plugin module fake_controller']);
    return true;
  });
  // A broken plugin is recorded and does not stop the others from loading.
  await assert.rejects(loader.load(plugin('junk.mjs')));
  assert.deepEqual([...loader.plugins.keys()], ['fake_controller']);
  assert.equal(loader.erroredPlugins.get('junk')?.[0].startsWith('SyntaxError:'), true);
});

test('describeClasses: Provide resolved into Subscribe on the target and its subclasses declaring the attributes', async () => {
  const loader = new PluginLoader();
  await loader.load(plugin('thousand_drives.ts'));
  const infos = loader.describeClasses();
  const scsi = infos.find((c) => c.plugin === 'linux' && c.name === 'ScsiDevice')!;
  assert.deepEqual(scsi.subscribes, [
    { to: { plugin: 'thousand_drives', name: 'Volume' }, attributes: ['serial'], ignorecase: false },
  ]);
  // Classes without a `serial` attribute do not get it.
  assert.deepEqual(infos.find((c) => c.name === 'UnsharedDevice')!.subscribes, []);
  const drive = infos.find((c) => c.name === 'Drive')!;
  assert.equal(drive.plugin, 'thousand_drives');
  assert.equal(drive.builtin, 'PhysicalDisk');
  assert.equal(drive.label, 'Drive');
  assert.deepEqual(drive.identifier, { kind: 'global', attributes: ['serial'] });
  assert.deepEqual(Object.keys(drive.attributes), ['serial', 'shelf']);
  assert.equal(drive.attributes.shelf.type, 'ResourceReference');
  const root = infos.find((c) => c.name === 'Array1000')!;
  assert.equal(root.scannable, true);
  assert.equal(drive.scannable, false);
});

test('berth-storage-plugin validate prints OK or the errors, exit 0/1', async () => {
  const lines: string[] = [];
  assert.equal(await main(['validate', plugin('fake_controller.mjs')], (l) => lines.push(l)), 0);
  assert.deepEqual(lines, ["Validating plugin 'fake_controller'...", 'OK']);
  lines.length = 0;
  assert.equal(await main(['validate', plugin('two_plugins.mjs')], (l) => lines.push(l)), 1);
  assert.deepEqual(lines, [
    "Validating plugin 'two_plugins'...",
    'Validation errors:',
    "  Module two_plugins defines more than one BaseStoragePlugin: [<class 'two_plugins.PluginA'>, <class 'two_plugins.PluginB'>]!",
  ]);
  lines.length = 0;
  assert.equal(await main(['frobnicate'], (l) => lines.push(l)), 2);
  assert.match(lines[0], /^usage: berth-storage-plugin validate/);
});

test('npm packages: a plugin named by package name is found in node_modules', async () => {
  const { mkdtempSync, mkdirSync, writeFileSync, rmSync, symlinkSync } = await import('node:fs');
  const { resolvePluginSpecifier } = await import('../../../src/shared/storage-resources/loader.js');
  const tmp = mkdtempSync(join(dir, 'tmp-'));
  try {
    const pkg = join(tmp, 'node_modules', '@acme', 'storage-x');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(
      join(pkg, 'package.json'),
      JSON.stringify({ name: '@acme/storage-x', type: 'module', main: 'plugin.mjs' }),
    );
    symlinkSync(plugin('fake_controller.mjs'), join(pkg, 'real.mjs'));
    writeFileSync(join(pkg, 'plugin.mjs'), "export * from './real.mjs';\n");
    const where = resolvePluginSpecifier('@acme/storage-x', tmp);
    assert.equal(where, pkg);
    const r = await validatePlugin(where);
    assert.deepEqual(r, { name: 'storage-x', errors: [] });
    assert.throws(() => resolvePluginSpecifier('no-such-storage-plugin', tmp), {
      message: 'ImportError: No module named no-such-storage-plugin',
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
