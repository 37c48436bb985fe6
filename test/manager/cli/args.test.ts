// The server-side xe argument parser (src/manager/cli/args.ts): xapi's parse_params tokenising,
// the POST /cli body, value syntaxes (booleans, sizes) and their error texts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  boolParam,
  getParam,
  hasParam,
  mapParams,
  parseBody,
  parseBool,
  parseCommandLine,
  parseParams,
  parseSize,
  requireParam,
} from '../../../src/manager/cli/args.js';
import { CliError } from '../../../src/manager/cli/errors.js';

const kind = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof CliError, String(e));
    return [e.kind, e.message];
  }
  assert.fail('did not throw');
};

test('parseParams: key=value (first = splits), bare words, --flags, single-dash switches', () => {
  assert.deepEqual(
    parseParams([
      'a=b',
      'c=d=e',
      'bare',
      'e=',
      '=v',
      '--force',
      '-u',
      'joe',
      '-pw',
      's',
      '-s',
      'h1',
      '-h',
      'h2',
      '-p',
      '443',
    ]),
    [
      ['a', 'b'],
      ['c', 'd=e'],
      ['bare', ''],
      ['e', ''],
      ['', 'v'],
      ['force', 'true'],
      ['username', 'joe'],
      ['password', 's'],
      ['server', 'h1'],
      ['server', 'h2'],
      ['port', '443'],
    ],
  );
  assert.deepEqual(parseParams([]), []);
  // the value after a switch is taken verbatim, even if it looks like a switch
  assert.deepEqual(parseParams(['-u', '--x']), [['username', '--x']]);
  assert.deepEqual(
    kind(() => parseParams(['-x', 'v'])),
    ['syntax', ''],
  );
  assert.deepEqual(
    kind(() => parseParams(['-u'])),
    ['syntax', ''],
  );
  assert.deepEqual(
    kind(() => parseParams(['a=b', '-pw'])),
    ['syntax', ''],
  );
});

test('parseBody: one argument per line, CR dropped, optional session_id first line', () => {
  assert.deepEqual(parseBody('vm-list\r\nparams=uuid\r\n'), { args: ['vm-list', 'params=uuid', ''] });
  assert.deepEqual(parseBody('session_id=OpaqueRef:abc\nvm-list'), {
    session: 'OpaqueRef:abc',
    args: ['vm-list'],
  });
  assert.deepEqual(parseBody('a\rb\nc'), { args: ['a\rb', 'c'] }, 'only a trailing CR is dropped');
  assert.deepEqual(parseBody('x\nsession_id=s'), { args: ['x', 'session_id=s'] });
  assert.deepEqual(parseBody(''), { args: [''] });
});

test('parseCommandLine: the first word is the command; none, empty or key=value is a syntax error', () => {
  assert.deepEqual(parseCommandLine(['vm-list', 'power-state=running']), {
    cmd: 'vm-list',
    params: [['power-state', 'running']],
  });
  assert.deepEqual(parseCommandLine(['help']), { cmd: 'help', params: [] });
  for (const bad of [[], [''], ['a=b']])
    assert.deepEqual(
      kind(() => parseCommandLine(bad)),
      ['syntax', ''],
    );
});

test('getParam/hasParam/requireParam/mapParams', () => {
  const p = parseParams([
    'a=1',
    'a=2',
    'b=',
    'other-config:x=1',
    'other-config:y:z=2',
    'other-configx=3',
    'c:k=v',
  ]);
  assert.equal(getParam(p, 'a'), '1', 'the first occurrence wins');
  assert.equal(getParam(p, 'b'), '');
  assert.equal(getParam(p, 'zz'), undefined);
  assert.equal(hasParam(p, 'b'), true);
  assert.equal(hasParam(p, 'zz'), false);
  assert.equal(requireParam(p, 'a'), '1');
  assert.equal(requireParam(p, 'b'), '');
  assert.deepEqual(
    kind(() => requireParam(p, 'uuid')),
    ['missing', 'uuid'],
  );
  assert.deepEqual(mapParams(p, 'other-config'), [
    ['x', '1'],
    ['y:z', '2'],
  ]);
  assert.deepEqual(mapParams(p, 'none'), []);
});

test('parseBool/boolParam: xapi’s spellings, case-insensitive; anything else is an error naming the param', () => {
  for (const v of ['true', 'T', 'yes', 'Y', '1', 'TRUE']) assert.equal(parseBool('p', v), true, v);
  for (const v of ['false', 'F', 'no', 'N', '0', 'False']) assert.equal(parseBool('p', v), false, v);
  for (const v of ['', 'on', '2', 'truee', ' true']) {
    assert.deepEqual(
      kind(() => parseBool('force', v)),
      [
        'error',
        `Failed to parse parameter 'force': Expected 'true','t','yes','y','1','false','f','no','n','0' got ${v}`,
      ],
    );
  }
  const p = parseParams(['x=yes', 'y=0']);
  assert.equal(boolParam(p, 'x'), true);
  assert.equal(boolParam(p, 'y', true), false);
  assert.equal(boolParam(p, 'z'), false);
  assert.equal(boolParam(p, 'z', true), true);
});

test('parseSize: integers with binary units, spaces allowed; junk and overflow refused', () => {
  const cases: [string, number][] = [
    ['0', 0],
    ['512', 512],
    ['7b', 7],
    ['7bytes', 7],
    ['1k', 1024],
    ['1KB', 1024],
    ['2KiB', 2048],
    ['3m', 3 * 2 ** 20],
    ['3MB', 3 * 2 ** 20],
    ['3mib', 3 * 2 ** 20],
    ['10G', 10 * 2 ** 30],
    ['10gb', 10 * 2 ** 30],
    ['10GiB', 10 * 2 ** 30],
    ['2t', 2 * 2 ** 40],
    ['2TB', 2 * 2 ** 40],
    ['2TiB', 2 * 2 ** 40],
    [' 512 m ', 512 * 2 ** 20],
  ];
  for (const [v, n] of cases) assert.equal(parseSize('size', v), n, v);
  for (const v of ['', 'm', '1.5G', '-1', '1 x', '1P', '1 0', 'G1']) {
    assert.deepEqual(
      kind(() => parseSize('virtual-size', v)),
      ['error', `Failed to parse parameter 'virtual-size': expecting a size, got ${v}`],
    );
  }
  assert.deepEqual(
    kind(() => parseSize('s', '99999999999t')),
    ['error', "Failed to parse parameter 's': size too large: 99999999999t"],
  );
  assert.equal(parseSize('s', '8191t'), 8191 * 2 ** 40, 'just below 2^53');
});
