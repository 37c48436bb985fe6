// Which host does an SR's volume work (chooseSrHost, xapi's "SR master"): the pool master when it
// has the SR plugged and its agent is connected, else the first other connected host with it
// plugged, else the first with it plugged; none plugged: the fallback (this manager's host).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { chooseSrHost } from '../../../src/manager/storage/sr-host.js';

const all = () => true;
const only =
  (...up: string[]) =>
  (h: string) =>
    up.includes(h);

test('the pool master does a shared SR work when it has it plugged and is connected', () => {
  assert.equal(chooseSrHost(['a', 'm', 'b'], 'm', all, 'x'), 'm');
  assert.equal(chooseSrHost(['m'], 'm', all, 'x'), 'm');
});

test('else the first connected host with the SR plugged', () => {
  // Master not plugged.
  assert.equal(chooseSrHost(['a', 'b'], 'm', all, 'x'), 'a');
  // Master plugged but its agent not connected.
  assert.equal(chooseSrHost(['m', 'a', 'b'], 'm', only('b'), 'x'), 'b');
  // The first plugged host offline: the next connected one.
  assert.equal(chooseSrHost(['a', 'b'], 'm', only('b', 'm'), 'x'), 'b');
});

test('a local SR stays with its one host, connected or not', () => {
  assert.equal(chooseSrHost(['a'], 'm', all, 'm'), 'a');
  // Offline: still that host (its calls then fail HOST_OFFLINE), never another one.
  assert.equal(chooseSrHost(['a'], 'm', only('m'), 'm'), 'a');
  assert.equal(chooseSrHost(['a', 'b'], 'm', only('m'), 'm'), 'a');
});

test('no PBD plugged: the fallback', () => {
  assert.equal(chooseSrHost([], 'm', all, 'self'), 'self');
});
