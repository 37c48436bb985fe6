// YAML templates (`-T file -V name value`): substitution rules, CLI-wins merge, the seed's errors,
// and hostile files (alias bombs, language tags, huge files, non-mappings).
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${name}` is the template syntax under test
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { CliError } from '../../../src/clients/berth/errors.js';
import {
  MAX_TEMPLATE_BYTES,
  mergeTemplate,
  mergeValues,
  parseTemplate,
  substitute,
  substituteAll,
} from '../../../src/clients/berth/template.js';
import { tempDir } from '../../helpers/tmp.js';

function templateFile(t: TestContext, text: string, name = 'tpl.yaml'): string {
  const file = join(tempDir(t, 'berth-tmplexport-'), name);
  writeFileSync(file, text);
  return file;
}

/** Asserts a CliError with this exit code whose message matches `re`. */
async function rejectsWith(p: Promise<unknown>, exitCode: number, re: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof CliError, `not a CliError: ${e}`);
    assert.equal(e.exitCode, exitCode, e.message);
    assert.match(e.message, re);
    return true;
  });
}

test('placeholders: ${name}, ${name:default}, empty default, several per string', () => {
  const v = { cores: '4', cluster: 'cluster01' };
  assert.equal(substitute('${cores}', v), '4');
  assert.equal(substitute('${osversion:7}', v), '7');
  assert.equal(substitute('${cores:9}', v), '4', 'a given variable wins over the default');
  assert.equal(substitute('a ${options:}b', v), 'a b');
  assert.equal(substitute('${cluster}/${cores}-${x:y}', v), 'cluster01/4-y');
  assert.equal(substitute('no placeholder $ {cores} $cores', v), 'no placeholder $ {cores} $cores');
  // A value is not re-scanned: a variable holding `${…}` text stays as given.
  assert.equal(substitute('${a}', { a: '${b}' }), '${b}');
});

test('an undefined variable without default fails with the raw string (251)', () => {
  assert.throws(
    () => substitute('ks=${host}.cfg', {}),
    (e: unknown) =>
      e instanceof CliError &&
      e.exitCode === 251 &&
      e.message === "unknown variable 'host' in template 'ks=${host}.cfg'",
  );
  // Inherited names are not variables.
  assert.throws(() => substitute('${constructor}', {}), /unknown variable 'constructor'/);
});

test('substitution reaches every string value recursively; keys and non-strings kept', () => {
  const out = substituteAll(
    { cpu: '${cores}', bios: { boot_menu: true }, io: { threads: 1 }, list: ['${c}', 2, null], '${k}': 'x' },
    { cores: '4', c: 'C' },
  );
  assert.deepEqual(out, {
    cpu: '4',
    bios: { boot_menu: true },
    io: { threads: 1 },
    list: ['C', 2, null],
    '${k}': 'x',
  });
});

test('merge: CLI options win; absent (undefined, null, empty list) ones are filled', () => {
  const merged = mergeValues(
    { name: 'web01', memory: '4G', cluster: undefined, network: [], comment: '' },
    { name: 'tpl', memory: '2G', cluster: 'c1', network: ['n1'], comment: 'tpl', cpu: 2, skipped: null },
    ['name', 'memory', 'cluster', 'network', 'comment', 'cpu'],
  );
  assert.deepEqual(merged, {
    name: 'web01',
    memory: '4G',
    cluster: 'c1',
    network: ['n1'],
    comment: '',
    cpu: 2,
  });
  assert.equal('skipped' in merged, false, 'a null template value adds nothing');
});

test('merge: template keys match options whatever their - / _ spelling', () => {
  // With the verb's option names: stored under the declared name.
  assert.deepEqual(
    mergeValues({}, { 'storage-domain': 'sd1', boot_pxe: false }, ['storage_domain', 'boot-pxe']),
    {
      storage_domain: 'sd1',
      'boot-pxe': false,
    },
  );
  // A CLI value under the other spelling still wins.
  assert.deepEqual(mergeValues({ 'storage-domain': 'cli' }, { storage_domain: 'tpl' }), {
    'storage-domain': 'cli',
  });
  // Without names: under both spellings, so the verb finds it under its own.
  assert.deepEqual(mergeValues({}, { storage_domain: 'sd1' }), {
    storage_domain: 'sd1',
    'storage-domain': 'sd1',
  });
  // Unknown keys pass through as written (vm create takes extra template keys).
  assert.deepEqual(mergeValues({}, { bios: { boot_menu: true } }, ['name']), { bios: { boot_menu: true } });
});

test('merge: a __proto__ key is an ordinary key, never the prototype', () => {
  const merged = mergeValues({}, JSON.parse('{"__proto__": {"polluted": 1}}'), ['x']);
  assert.equal(Object.getPrototypeOf(merged), Object.prototype);
  assert.equal((merged as Record<string, unknown>).polluted, undefined);
  assert.ok(Object.hasOwn(merged, '__proto__'));
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test("mergeTemplate reads the seed's vm_create.yaml with -V variables", async (t) => {
  const file = templateFile(
    t,
    [
      'ostype: rhel_7x64',
      'cpu: ${cores}',
      'bios:',
      '  boot_menu: True',
      'type: server',
      'disk_interface: VIRTIO_SCSI',
      'io:',
      '  threads: 1',
      'network_interface: VIRTIO',
      'cluster: ${cluster}',
      'storage_domain: ${cluster}',
      'memory: ${memory:1G}',
      '',
    ].join('\n'),
    'vm_create.yaml',
  );
  const opts = await mergeTemplate({ name: 'web01', ostype: undefined }, file, {
    memory: '2G',
    cores: '4',
    cluster: 'cluster01',
    ostype: 'rhel_7x64',
  });
  assert.deepEqual(opts, {
    name: 'web01',
    ostype: 'rhel_7x64',
    cpu: '4',
    bios: { boot_menu: true },
    type: 'server',
    disk_interface: 'VIRTIO_SCSI',
    'disk-interface': 'VIRTIO_SCSI',
    io: { threads: 1 },
    network_interface: 'VIRTIO',
    'network-interface': 'VIRTIO',
    cluster: 'cluster01',
    storage_domain: 'cluster01',
    'storage-domain': 'cluster01',
    memory: '2G',
  });
  // The verb's option names make the result exact.
  const exact = await mergeTemplate({ memory: '8G' }, file, { cores: '4', cluster: 'c' }, [
    'memory',
    'storage-domain',
  ]);
  assert.equal(exact.memory, '8G');
  assert.equal(exact['storage-domain'], 'c');
  assert.equal('storage_domain' in exact, false);
});

test('no template: options unchanged; -V without -T is "YAML template not found" (251)', async () => {
  assert.deepEqual(await mergeTemplate({ a: 1 }, undefined, {}), { a: 1 });
  await rejectsWith(mergeTemplate({}, undefined, { cores: '4' }), 251, /^YAML template not found$/);
});

test('an undefined variable in the file fails with 251', async (t) => {
  const file = templateFile(t, 'kernel: /data/isolinux${osversion}/vmlinuz\n');
  await rejectsWith(
    mergeTemplate({}, file, {}),
    251,
    /unknown variable 'osversion' in template '\/data\/isolinux/,
  );
});

test('missing, directory and unreadable templates: a clear 253 naming the file', async (t) => {
  const dir = tempDir(t, 'berth-tmplexport-');
  await rejectsWith(
    mergeTemplate({}, join(dir, 'nope.yaml'), {}),
    253,
    /YAML template .*nope\.yaml not found/,
  );
  mkdirSync(join(dir, 'd'));
  await rejectsWith(mergeTemplate({}, join(dir, 'd'), {}), 253, /d is not a file/);
});

test('a YAML syntax error: 253 with the file, line and column', async (t) => {
  const file = templateFile(t, 'name: web01\ncpu: [1,\nmemory: 2G\n', 'broken.yaml');
  await rejectsWith(mergeTemplate({}, file, {}), 253, /^invalid YAML template .*broken\.yaml:\d+:\d+: \S/);
  const dup = templateFile(t, 'a: 1\na: 2\n', 'dup.yaml');
  await rejectsWith(mergeTemplate({}, dup, {}), 253, /dup\.yaml:2:1: Map keys must be unique/);
  const multi = templateFile(t, 'a: 1\n---\nb: 2\n', 'multi.yaml');
  await rejectsWith(mergeTemplate({}, multi, {}), 253, /multi\.yaml:\d+:\d+: /);
});

test('the top level must be a mapping; an empty file merges nothing', async (t) => {
  for (const text of ['- a\n- b\n', 'just a string\n', '42\n']) {
    await rejectsWith(parseTemplate(text, 'x.yaml'), 253, /x\.yaml: the top level must be a mapping/);
  }
  assert.deepEqual(await mergeTemplate({ a: 1 }, templateFile(t, ''), {}), { a: 1 });
  assert.deepEqual(await mergeTemplate({ a: 1 }, templateFile(t, '# only a comment\n'), {}), { a: 1 });
});

test('hostile: an alias bomb is stopped by the alias limit', async () => {
  const lines = ['a: &a [x, x, x, x, x, x, x, x, x]'];
  for (const [n, p] of [
    ['b', 'a'],
    ['c', 'b'],
    ['d', 'c'],
    ['e', 'd'],
    ['f', 'e'],
    ['g', 'f'],
    ['h', 'g'],
  ])
    lines.push(`${n}: &${n} [${Array(9).fill(`*${p}`).join(', ')}]`);
  await rejectsWith(
    parseTemplate(`${lines.join('\n')}\n`, 'bomb.yaml'),
    253,
    /bomb\.yaml: .*resource exhaustion/,
  );
  // A few aliases are ordinary YAML and work.
  assert.deepEqual(await parseTemplate('base: &b {x: 1}\nother: *b\n', 'ok.yaml'), {
    base: { x: 1 },
    other: { x: 1 },
  });
});

test('hostile: language tags are refused, never executed', async () => {
  const marker = '__berthTemplateRan';
  const g = globalThis as Record<string, unknown>;
  delete g[marker];
  for (const text of [
    `a: !!js/function "function () { globalThis.${marker} = 1; }"\n`,
    `a: !!python/object/apply:os.system ["touch /tmp/${marker}"]\n`,
    `a: !!js/undefined ''\n`,
    'a: !custom value\n',
  ]) {
    await rejectsWith(parseTemplate(text, 'tag.yaml'), 253, /tag\.yaml:1:4: Unresolved tag/);
  }
  assert.equal(g[marker], undefined);
  // The core schema's own tags are fine.
  assert.deepEqual(await parseTemplate('a: !!str 12\nb: !!int "7"\n', 'core.yaml'), { a: '12', b: 7 });
});

test('hostile: a file over the size limit is refused before parsing', async (t) => {
  const file = templateFile(t, `a: "${'x'.repeat(MAX_TEMPLATE_BYTES)}"\n`, 'huge.yaml');
  await rejectsWith(mergeTemplate({}, file, {}), 253, /huge\.yaml is too large/);
});

test('hostile: deep nesting is a clear 253, never a crash or a hang', async () => {
  // 100,000 open brackets: refused before yaml sees them (its code frames ran out of memory).
  const flow = `a: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`;
  const t0 = Date.now();
  await rejectsWith(parseTemplate(flow, 'deep.yaml'), 253, /deep\.yaml:1: nested more than 256 levels deep/);
  assert.ok(Date.now() - t0 < 1000);
  // Quoting does not hide them.
  await rejectsWith(parseTemplate(`a: "${'{'.repeat(300)}"\n`, 'q.yaml'), 253, /nested more than 256/);
  assert.deepEqual(await parseTemplate(`a: ${'['.repeat(50)}1${']'.repeat(50)}\n`, 'ok.yaml'), {
    a: JSON.parse(`${'['.repeat(50)}1${']'.repeat(50)}`),
  });
  // A block mapping 1,000 levels deep: the stack limit, reported as a YAML error with its place.
  const block = `${Array.from({ length: 1000 }, (_, i) => `${' '.repeat(i)}k:`).join('\n')} v\n`;
  await rejectsWith(parseTemplate(block, 'block.yaml'), 253, /^invalid YAML template block\.yaml:\d+:\d+: /);
});
