// A plugged PIF whose other_config holds a setting the host cannot apply: the failure is
// reported as a message of a class xapi has (the PIF's host), not as a UUID_INVALID error.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { netns, vethInto } from '../../agent/network/netns.js';
import { netHarness } from './harness.js';

test('PIF settings that cannot be applied become a Host message naming the PIF', async (t) => {
  const h = await netHarness(t);
  const peer = await netns(t, 'defpeer');
  await vethInto(h.ns, 'eth6', peer, 'p6');
  const host = h.svc.hostRef();
  await h.call('PIF.scan', host);
  const [pif, rec] = Object.entries(await h.call('PIF.get_all_records'))[0] as [string, any];
  await h.call('PIF.plug', pif);
  assert.equal(await h.call('PIF.get_currently_attached', pif), true);

  await h.call('PIF.add_to_other_config', pif, 'ethtool-gso', 'sometimes');

  const messages = Object.values(await h.call('message.get_all_records')) as any[];
  const m = messages.find((x) => x.name === 'PIF_SETTINGS_NOT_APPLIED');
  assert.ok(m, 'a message was created');
  assert.equal(m.cls, 'Host');
  assert.equal(m.obj_uuid, await h.call('host.get_uuid', host));
  assert.equal(m.priority, 4);
  assert.match(m.body, new RegExp(`^PIF ${rec.uuid} \\(eth6\\):\\nethtool-gso: expected on/true/off/false`));
  assert.deepEqual(await h.call('PIF.get_other_config', pif), { 'ethtool-gso': 'sometimes' });
  assert.deepEqual(await h.fails('message.create', 'X', 1, 'PIF', rec.uuid, 'b'), [
    'UUID_INVALID',
    'PIF',
    rec.uuid,
  ]);
  await h.call('PIF.unplug', pif);
});
