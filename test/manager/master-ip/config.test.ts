// The pool's floating address keys and the steps from what a master holds to what is wanted (pure).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { masterIpSteps, wantedMasterIp } from '../../../src/manager/master-ip/config.js';

const p = (ip: string, netmask: number, netdev = 'xenbr0') => ({
  ip,
  netmask,
  netdev,
  ip_family: 'inet' as const,
});

test('wanted master IP from other_config', () => {
  assert.equal(wantedMasterIp(undefined), undefined);
  assert.equal(wantedMasterIp({ 'berth-master-ip': '' }), undefined);
  assert.deepEqual(wantedMasterIp({ 'berth-master-ip': '10.0.0.5/24', 'berth-master-ip-device': 'xenbr0' }), {
    params: p('10.0.0.5', 24),
  });
  for (const bad of ['10.0.0.5', '10.0.0.5/33', '10.0.0.256/24', '10.0.0.5/24; reboot', 'x/24'])
    assert.match(
      (wantedMasterIp({ 'berth-master-ip': bad, 'berth-master-ip-device': 'xenbr0' }) as { error: string })
        .error,
      /expected an IPv4 address\/prefix length/,
    );
  for (const dev of [undefined, '', 'a b', '../x', 'sixteen-chars-xx'])
    assert.match(
      (
        wantedMasterIp({
          'berth-master-ip': '10.0.0.5/24',
          ...(dev === undefined ? {} : { 'berth-master-ip-device': dev }),
        }) as {
          error: string;
        }
      ).error,
      /expected a device name/,
    );
});

test('steps from held to wanted', () => {
  assert.deepEqual(masterIpSteps(undefined, undefined), []);
  assert.deepEqual(masterIpSteps(undefined, p('10.0.0.5', 24)), [
    { op: 'activate', params: p('10.0.0.5', 24) },
  ]);
  assert.deepEqual(masterIpSteps(p('10.0.0.5', 24), undefined), [
    { op: 'deactivate', params: p('10.0.0.5', 24) },
  ]);
  assert.deepEqual(masterIpSteps(p('10.0.0.5', 24), p('10.0.0.5', 24)), []);
  assert.deepEqual(masterIpSteps(p('10.0.0.5', 24), p('10.0.0.5', 24), true), [
    { op: 'activate', params: p('10.0.0.5', 24) },
  ]);
  assert.deepEqual(masterIpSteps(p('10.0.0.5', 24), p('10.0.0.5', 16)), [
    { op: 'netmask', old: 24, params: p('10.0.0.5', 16) },
  ]);
  assert.deepEqual(masterIpSteps(p('10.0.0.5', 24), p('10.0.0.6', 24)), [
    { op: 'deactivate', params: p('10.0.0.5', 24) },
    { op: 'activate', params: p('10.0.0.6', 24) },
  ]);
  assert.deepEqual(masterIpSteps(p('10.0.0.5', 24), p('10.0.0.5', 24, 'xenbr1')), [
    { op: 'deactivate', params: p('10.0.0.5', 24) },
    { op: 'activate', params: p('10.0.0.5', 24, 'xenbr1') },
  ]);
});
