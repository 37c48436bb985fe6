// Pure pieces: parameter syntax, record layout, --minimal escaping, help wrapping, error texts
// and the thin CLI protocol framing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeMessage,
  encodeChunk,
  encodeCommand,
  encodeResponse,
} from '../../../src/shared/cli-protocol.js';
import { parseBool, parseParams, parseSize } from '../../../src/manager/cli/args.js';
import { xenApiErrorLines } from '../../../src/manager/cli/errors.js';
import { escapeCommas, formatRecord, wrapList } from '../../../src/manager/cli/printer.js';

test('parameter syntax', () => {
  assert.deepEqual(parseParams(['--force', 'a=b=c', 'word', '-u', 'bob', 'x=']), [
    ['force', 'true'],
    ['a', 'b=c'],
    ['word', ''],
    ['username', 'bob'],
    ['x', ''],
  ]);
  assert.throws(() => parseParams(['-q', 'v']), { kind: 'syntax' });
  assert.equal(parseSize('s', '10GiB'), 10 * 2 ** 30);
  assert.equal(parseSize('s', '512 m'), 512 * 2 ** 20);
  assert.equal(parseSize('s', '7'), 7);
  assert.throws(() => parseSize('s', '1x'));
  assert.equal(parseBool('p', 'Yes'), true);
  assert.throws(
    () => parseBool('p', 'maybe'),
    /Failed to parse parameter 'p': Expected 'true','t','yes','y','1','false','f','no','n','0' got maybe/,
  );
});

test('record layout: keys padded to 4 + longest, first left, rest right', () => {
  assert.equal(
    formatRecord([
      ['uuid ( RO)', 'u1'],
      ['name-label ( RW)', 'web'],
    ]),
    'uuid ( RO)          : u1\n    name-label ( RW): web\n',
  );
  assert.equal(escapeCommas('a,b\\c'), 'a\\,b\\\\c');
});

test('help list wrapping at 74 columns', () => {
  const names = Array.from({ length: 12 }, (_, i) => `command-number-${i}`);
  const lines = wrapList(names);
  for (const l of lines) assert.ok(l.startsWith('    ') && !l.endsWith(','));
  assert.deepEqual(lines.join(', ').replace(/\s+/g, ' ').trim().split(', '), names);
  for (let i = 0; i + 1 < lines.length; i++) {
    const next = lines[i + 1].trim().split(', ')[0];
    assert.ok(lines[i].length + next.length > 74);
  }
});

test('XenAPI errors use the documented sentence and parameter names', () => {
  assert.deepEqual(xenApiErrorLines('VM_BAD_POWER_STATE', ['vm1', 'halted', 'running']), [
    "You attempted an operation on a VM that was not in an appropriate power state at the time; for example, you attempted to start a VM that was already running. The parameters returned are the VM's handle, and the expected and actual VM state at the time of the call.",
    'vm: vm1',
    'expected: halted',
    'actual: running',
  ]);
  assert.deepEqual(xenApiErrorLines('UUID_INVALID', ['VM']), [
    'The uuid you supplied was invalid.',
    'type: VM',
    'uuid: <unknown>',
  ]);
  assert.deepEqual(xenApiErrorLines('NOT_IMPLEMENTED', ['VM.foo', 'x']), [
    'The function is not implemented',
    'function: VM.foo',
    '<extra>: x',
  ]);
  assert.equal(xenApiErrorLines('NO_SUCH_CODE_ANYWHERE', []), undefined);
});

test('protocol framing round-trips', () => {
  const strip = (b: Buffer) => {
    assert.equal(b.readUInt32LE(0), b.length - 4);
    return decodeMessage(b.subarray(4));
  };
  assert.deepEqual(strip(encodeCommand({ kind: 'print', text: 'héllo' })), {
    tag: 'command',
    command: { kind: 'print', text: 'héllo' },
  });
  assert.deepEqual(strip(encodeCommand({ kind: 'error', code: 'X', params: ['a', 'b'] })), {
    tag: 'command',
    command: { kind: 'error', code: 'X', params: ['a', 'b'] },
  });
  assert.deepEqual(strip(encodeCommand({ kind: 'exit', code: 1 })), {
    tag: 'command',
    command: { kind: 'exit', code: 1 },
  });
  assert.deepEqual(strip(encodeResponse('ok')), { tag: 'response', response: 'ok' });
  assert.deepEqual(strip(encodeChunk(42)), { tag: 'chunk', length: 42 });
  // Print = tag 9, sub-tag 0, then the string.
  assert.deepEqual(
    [...encodeCommand({ kind: 'print', text: 'A' })],
    [13, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 65],
  );
});
