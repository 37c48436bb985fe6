// `berth event list` (changes since a token, then the next token) and `berth event wait`
// (the waiter on the command line: lines as events arrive, 251 on break or timeout).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CliError } from '../../../src/clients/berth/errors.js';
import { eventNoun } from '../../../src/clients/berth/nouns/event.js';
import { NOUNS } from '../../../src/clients/berth/nouns/index.js';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { connectApi, runVerb } from '../../helpers/berth-verb.js';
import { startManager } from '../../helpers/manager.js';

async function drain(lines: AsyncIterable<string>, into: string[]): Promise<void> {
  for await (const l of lines) into.push(l);
}

async function setup(t: Parameters<typeof startManager>[0]) {
  const m = await startManager(t);
  const api = await connectApi(m.httpUrl, m.rootPassword);
  t.after(async () => {
    await api.client.logout().catch(() => undefined);
    api.client.close();
  });
  const vm = async (name: string) => {
    const ref = (await api.call('VM.create', baseVmRecord({ name_label: name }))) as string;
    return { ref, uuid: (await api.call('VM.get_uuid', ref)) as string };
  };
  return { api, vm };
}

test('event is a noun of berth with -f on the noun', () => {
  assert.ok(NOUNS.includes(eventNoun));
  assert.deepEqual(
    eventNoun.nounOptions?.map((o) => `-${o.short}/--${o.long}`),
    ['-f/--from'],
  );
  assert.deepEqual(
    eventNoun.verbs.map((v) => v.name),
    ['list', 'wait'],
  );
});

test('event list: changes since the token, the next token last; the search filters', async (t) => {
  const { api, vm } = await setup(t);
  const { token } = (await api.call('event.from', [], '', 0)) as { token: string };
  const a = await vm('listed');
  await vm('other');
  const { outcome } = await runVerb(api, eventNoun, 'list', undefined, { class: ['vm'] }, [], {
    from: token,
    search: 'name_label=listed',
  });
  const lines: string[] = [];
  await drain(outcome as AsyncIterable<string>, lines);
  assert.deepEqual(lines.slice(0, -1), [`vm.add ${a.uuid} listed`]);
  assert.match(lines[lines.length - 1], /^token \d+,\d+$/);
  // From that token on: nothing new within the window.
  const next = lines[lines.length - 1].slice('token '.length);
  const again = await runVerb(api, eventNoun, 'list', undefined, { class: ['vm'], timeout: 0 }, [], {
    from: next,
  });
  const rest: string[] = [];
  await drain(again.outcome as AsyncIterable<string>, rest);
  assert.deepEqual(rest, [`token ${next}`]);
});

test('event wait: lines as events come, 0 when satisfied, 251 on break or timeout', async (t) => {
  const { api, vm } = await setup(t);
  const w = await runVerb(
    api,
    eventNoun,
    'wait',
    undefined,
    { 'wait-for': ['vm.add', 'vm.add'], timeout: 20 },
    [],
    {
      name: 'w1',
    },
  );
  // The verb returns once its position is taken: what happens next is seen.
  await vm('w1');
  await vm('not-w1');
  await vm('w1');
  const lines: string[] = [];
  await drain(w.outcome as AsyncIterable<string>, lines);
  assert.equal(lines.length, 2);
  for (const l of lines) assert.match(l, /^vm\.add [0-9a-f-]{36} w1: vm\.add$/);

  const target = await vm('b1');
  const b = await runVerb(
    api,
    eventNoun,
    'wait',
    undefined,
    { 'wait-for': ['VM_STARTED'], 'break-on': ['BERTH_OOPS'] },
    [],
    {
      search: 'name_label=b1',
    },
  );
  await api.call('message.create', 'BERTH_OOPS', 1, 'VM', target.uuid, 'body');
  const blines: string[] = [];
  await assert.rejects(
    drain(b.outcome as AsyncIterable<string>, blines),
    (e: unknown) =>
      e instanceof CliError && e.exitCode === 251 && e.message === 'stopped on event BERTH_OOPS',
  );
  assert.deepEqual(blines, [`message.add BERTH_OOPS on VM ${target.uuid}: BERTH_OOPS`]);

  const tmo = await runVerb(api, eventNoun, 'wait', undefined, { 'wait-for': ['vm.del'], timeout: 1 });
  await assert.rejects(
    drain(tmo.outcome as AsyncIterable<string>, []),
    (e: unknown) =>
      e instanceof CliError &&
      e.exitCode === 251 &&
      e.message === 'Timeout will waiting for events' &&
      e.detail === 'still waiting for: vm.del',
  );
  await assert.rejects(
    runVerb(api, eventNoun, 'wait', undefined, {}),
    (e: unknown) => e instanceof CliError && e.exitCode === 253,
  );
  await assert.rejects(
    runVerb(api, eventNoun, 'wait', undefined, { 'wait-for': ['vm'] }),
    (e: unknown) => e instanceof CliError && e.exitCode === 253 && /unknown event code 'vm'/.test(e.message),
  );
});
