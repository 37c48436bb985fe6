// The `berth` grammar: three option levels bound to the term they follow, -h at each level
// (golden files), oVirtCmd's messages and exit codes, and the print rules of verb outcomes.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CliError } from '../../../src/clients/berth/errors.js';
import { parseLevel } from '../../../src/clients/berth/grammar.js';
import { parseCommand } from '../../../src/clients/berth/parse.js';
import { parseSize } from '../../../src/clients/berth/size.js';
import type { OptionSpec } from '../../../src/clients/berth/spec.js';
import { runBerth } from '../../helpers/berth-cli.js';
import { assertGolden } from '../../helpers/golden.js';
import { runInProcess, TEST_NOUNS } from './fixtures.js';

const GOLDEN = join(import.meta.dirname, 'golden');

const OPTS: OptionSpec[] = [
  { short: 'n', long: 'name', kind: 'value', help: '' },
  { short: 'd', long: 'debug', kind: 'flag', help: '' },
  { short: 'k', long: 'kerberos', kind: 'flag', help: '' },
  { short: 'V', long: 'variable', kind: 'pair', repeat: true, help: '' },
  { short: 'o', long: 'opt', kind: 'value', repeat: true, help: '' },
  { short: 'm', long: 'memory', kind: 'value', type: 'size', help: '' },
  { short: 'c', long: 'count', kind: 'value', type: 'int', help: '' },
];

const usage = (message: string) => (e: unknown) =>
  e instanceof CliError && e.exitCode === 253 && e.message === message;

describe('parseLevel', () => {
  it('stops at the first word that is not an option (interspersed args disabled)', () => {
    const r = parseLevel(['-d', 'vm', '-n', 'x'], OPTS);
    assert.deepEqual(r.opts, { debug: true });
    assert.deepEqual(r.rest, ['vm', '-n', 'x']);
  });
  it('reads every spelling of a value', () => {
    assert.deepEqual(parseLevel(['-n', 'a'], OPTS).opts, { name: 'a' });
    assert.deepEqual(parseLevel(['-na'], OPTS).opts, { name: 'a' });
    assert.deepEqual(parseLevel(['--name', 'a'], OPTS).opts, { name: 'a' });
    assert.deepEqual(parseLevel(['--name=a=b'], OPTS).opts, { name: 'a=b' });
    assert.deepEqual(parseLevel(['-dkn', 'a'], OPTS).opts, { debug: true, kerberos: true, name: 'a' });
    assert.deepEqual(parseLevel(['-n', '-x'], OPTS).opts, { name: '-x' }, 'a value may start with a dash');
  });
  it('collects repeatable values and pairs; converts sizes and integers', () => {
    const r = parseLevel(
      ['-V', 'a', '1', '-V', 'b', '2', '-o', 'x', '-o', 'y', '-m', '2G', '-c', '3'],
      OPTS,
      parseSize,
    );
    assert.deepEqual(r.opts, { variable: { a: '1', b: '2' }, opt: ['x', 'y'], memory: 2 ** 31, count: 3 });
  });
  it('ends options at --', () => {
    assert.deepEqual(parseLevel(['-d', '--', '-n'], OPTS), {
      opts: { debug: true },
      rest: ['-n'],
      help: false,
    });
  });
  it('reports bad options as usage errors', () => {
    assert.throws(() => parseLevel(['-z'], OPTS), usage('no such option: -z'));
    assert.throws(() => parseLevel(['--zz'], OPTS), usage('no such option: --zz'));
    assert.throws(() => parseLevel(['-n'], OPTS), usage('-n option requires an argument'));
    assert.throws(() => parseLevel(['-V', 'a'], OPTS), usage('-V option requires 2 arguments'));
    assert.throws(() => parseLevel(['-c', 'x'], OPTS), usage("option --count: invalid integer value: 'x'"));
    assert.throws(
      () => parseLevel(['-m', '2Q'], OPTS, parseSize),
      (e) => e instanceof CliError && e.exitCode === 253,
    );
    assert.throws(() => parseLevel(['--debug=1'], OPTS), usage('--debug option does not take a value'));
  });
  it('sees -h and --help', () => {
    assert.equal(parseLevel(['-h'], OPTS).help, true);
    assert.equal(parseLevel(['-d', '--help', 'x'], OPTS).help, true);
  });
});

describe('parseCommand', () => {
  it('binds each option to the term it follows', () => {
    const c = parseCommand(
      ['-d', '-o', 'json', 'testvm', '-n', 'web', 'show', '-x', 'e', '--size', '1K', 'a', '-b'],
      TEST_NOUNS,
    );
    assert.equal(c.kind, 'verb');
    if (c.kind !== 'verb') return;
    assert.deepEqual(c.global, { debug: true, output: 'json' });
    assert.deepEqual(c.nounOpts, { name: 'web' });
    assert.equal(c.verb?.name, 'show');
    assert.deepEqual(c.verbOpts, { extra: 'e', size: 1024 });
    assert.deepEqual(c.args, ['a', '-b']);
  });
  it('does not take a global option after the noun', () => {
    assert.throws(() => parseCommand(['testvm', '-d', 'list'], TEST_NOUNS), usage('no such option: -d'));
  });
  it('finds nouns by alias and noun extras', () => {
    const c = parseCommand(['testhost', '-f', '12', 'list'], TEST_NOUNS);
    assert.equal(c.kind === 'verb' && c.noun.name, 'testhost');
    assert.deepEqual(c.kind === 'verb' && c.nounOpts, { from: 12 });
    assert.equal(parseCommand(['tvm', 'list'], TEST_NOUNS).kind, 'verb');
  });
  it('gives template verbs -T and repeatable -V', () => {
    const c = parseCommand(
      ['testvm', 'tpl', '-T', 'vm.yaml', '-V', 'cores', '4', '-V', 'cluster', 'c1', '-m', '2G'],
      TEST_NOUNS,
    );
    assert.deepEqual(c.kind === 'verb' && c.verbOpts, {
      template: 'vm.yaml',
      variable: { cores: '4', cluster: 'c1' },
      memory: 2 ** 31,
    });
    assert.throws(() => parseCommand(['testvm', 'echo', '-T', 'x'], TEST_NOUNS), usage('no such option: -T'));
  });
  it('hands everything after eval to the eval runner, options included', () => {
    assert.deepEqual(parseCommand(['-d', 'eval', '-v', 'a', 'b', 's.mjs', '-x'], TEST_NOUNS), {
      kind: 'eval',
      global: { debug: true },
      argv: ['-v', 'a', 'b', 's.mjs', '-x'],
    });
  });
});

describe('berth messages and exit codes (in-process)', () => {
  const cases: [string[], number, string][] = [
    [[], 253, 'object missing\n'],
    [['frob'], 253, 'unknown object: frob\n'],
    [['testvm'], 253, 'verb missing\n'],
    [['testvm', '-n'], 253, '-n option requires an argument\n'],
    [
      ['-o', 'csv', 'testvm', 'nothing'],
      253,
      "unknown output format 'csv' (one of table, json, yaml, xml, text)\n",
    ],
    [['testvm', 'frob'], 251, 'The action "testvm frob" failed with\n    unknown verb frob\n'],
    [['completion', 'fish'], 253, 'unknown shell fish (bash or zsh)\n'],
    [['completion'], 253, 'shell missing (bash or zsh)\n'],
  ];
  for (const [args, code, stderr] of cases)
    it(`berth ${args.join(' ')} → ${code}`, async () => {
      const r = await runInProcess(args);
      assert.equal(r.stderr, stderr);
      assert.equal(r.code, code);
      assert.equal(r.stdout, '');
    });
});

describe('-h at each level (golden)', () => {
  const levels: [string, string[]][] = [
    ['help-global.txt', ['-h']],
    ['help-noun.txt', ['testvm', '--help']],
    ['help-noun-extra.txt', ['testhost', '-h']],
    ['help-verb.txt', ['testvm', '-n', 'x', 'show', '-h']],
    ['help-list.txt', ['testvm', 'list', '-h']],
  ];
  for (const [file, args] of levels)
    it(`berth ${args.join(' ')}`, async () => {
      const r = await runInProcess(args);
      assert.equal(r.code, 0);
      assert.equal(r.stderr, '');
      assertGolden(join(GOLDEN, file), r.stdout);
    });
  it('lists the nouns and the verbs', async () => {
    assert.match((await runInProcess(['-h'])).stdout, /\nnouns are:\n {4}testvm \(tvm\) +virtual machines/);
    assert.match((await runInProcess(['testvm', '-h'])).stdout, /\nverbs are:\n {4}list +list the objects/);
  });
});

describe('the real CLI (spawned)', () => {
  it('exits 253 with the message, without a stack trace', async () => {
    const r = await runBerth(['nosuchnoun']);
    assert.deepEqual(r, { code: 253, stdout: '', stderr: 'unknown object: nosuchnoun\n' });
    const m = await runBerth([]);
    assert.deepEqual(m, { code: 253, stdout: '', stderr: 'object missing\n' });
  });
  it('prints the global help', async () => {
    const r = await runBerth(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^usage: berth \[options\] noun/);
    assert.match(r.stdout, /nouns are:/);
  });
});

describe('runBerth', () => {
  it('runs the CLI from any working directory', async () => {
    const r = await runBerth(['completion', 'bash'], { cwd: '/' });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /complete -o filenames -F _berth berth/);
  });
});

describe('Ctrl-C', () => {
  it('exits 1 while a verb runs', async () => {
    const http = await import('node:http');
    const { spawn } = await import('node:child_process');
    // A stand-in manager that accepts any login.
    const server = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: 'OpaqueRef:session' })));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as import('node:net').AddressInfo).port;
    const child = spawn(
      process.execPath,
      [
        '--import',
        import.meta.resolve('tsx'),
        join(import.meta.dirname, 'fixture-main.ts'),
        '--url',
        `http://127.0.0.1:${port}/`,
        '-u',
        'root',
        '--passwordfile',
        '/dev/null',
        'testvm',
        'hang',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: '/nonexistent' } },
    );
    let stderr = '';
    child.stderr.on('data', (c) => {
      stderr += c;
    });
    await new Promise<void>((r) => child.stdout.on('data', (c) => String(c).includes('ready') && r()));
    child.kill('SIGINT');
    const code = await new Promise((r) => child.on('close', r));
    server.close();
    assert.equal(code, 1, stderr);
    assert.equal(stderr, '');
  });
});
