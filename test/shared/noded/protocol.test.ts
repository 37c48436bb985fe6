import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XenApiError } from '../../../src/shared/errors.js';
import { EventLineParser } from '../../../src/shared/noded/client.js';
import {
  AgentError,
  decodeReply,
  errorReply,
  okReply,
  parseArgs,
  PROCEDURE_RE,
} from '../../../src/shared/noded/protocol.js';

test('replies: payloads, plain errors and XenAPI errors round-trip', () => {
  assert.deepEqual(decodeReply('p', okReply({ a: 1 })), { a: 1 });
  assert.equal(decodeReply('p', okReply(undefined)), null);
  assert.throws(
    () => decodeReply('p', errorReply(new XenApiError('VM_BAD_POWER_STATE', ['u', 'running', 'halted']))),
    (e: unknown) =>
      e instanceof XenApiError && e.code === 'VM_BAD_POWER_STATE' && e.params.join() === 'u,running,halted',
  );
  assert.throws(
    () => decodeReply('p', errorReply(new Error('boom'))),
    (e: unknown) => e instanceof AgentError && /boom/.test(e.message),
  );
  assert.throws(() => decodeReply('p', '[false, ""]'), /No error information/);
});

test('malformed replies are RPC layer errors', () => {
  assert.throws(() => decodeReply('p', 'not json'), /unparsable/);
  assert.throws(() => decodeReply('p', '[true]'), /invalid result/);
  assert.throws(() => decodeReply('p', '{"a":1}'), /invalid result/);
});

test('arguments are a JSON array; procedure names are plain identifiers', () => {
  assert.deepEqual(parseArgs(''), []);
  assert.deepEqual(parseArgs('[1, "a"]'), [1, 'a']);
  assert.throws(() => parseArgs('{"a":1}'), /JSON array/);
  assert.ok(PROCEDURE_RE.test('instance_start'));
  assert.ok(!PROCEDURE_RE.test('../etc'));
  assert.ok(!PROCEDURE_RE.test('__proto__x'.replace(/^_+/, '_')));
});

test('event lines: split across chunks, blank and corrupt lines dropped', () => {
  const p = new EventLineParser();
  assert.deepEqual(p.push('{"uuid":"a","state":"run'), []);
  assert.deepEqual(p.push('ning"}\n\nnot json\n{"x":1}\n{"uuid":"b","state":"paused","reason":"paused"}\n'), [
    { uuid: 'a', state: 'running' },
    { uuid: 'b', state: 'paused', reason: 'paused' },
  ]);
});
