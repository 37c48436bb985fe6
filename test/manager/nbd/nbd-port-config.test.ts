// --nbd-port / BERTH_NBD_PORT: xapi-nbd's 10809 by default, `off` for none, a bad value refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../../src/manager/config.js';

test('--nbd-port: default 10809, off, environment, flags win, bad values refused', () => {
  assert.equal(parseConfig([], {}).nbdPort, 10809);
  assert.equal(parseConfig(['--nbd-port', 'off'], {}).nbdPort, null);
  assert.equal(parseConfig([], { BERTH_NBD_PORT: '20809' }).nbdPort, 20809);
  assert.equal(parseConfig(['--nbd-port', '0'], { BERTH_NBD_PORT: '20809' }).nbdPort, 0);
  assert.throws(() => parseConfig(['--nbd-port', '70000'], {}), /invalid port/);
  assert.throws(() => parseConfig(['--nbd-port', 'x'], {}), /invalid port/);
});
