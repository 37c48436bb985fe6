// The scan daemon on fake time: the fake_controller plugin (loaded by the loader) feeds a real
// SQLite store; a throwing plugin goes offline and restarts with back-off 1, 2, 4… s; a hanging
// scan is bounded; removing a root stops its loop.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { nextBackoffS } from '../../../src/manager/storage-resources/runtime/backoff.js';
import {
  type DaemonTimers,
  ScanDaemon,
  type ScanRoot,
  type ScanningPlugin,
} from '../../../src/manager/storage-resources/runtime/scan-daemon.js';
import { storeRoots } from '../../../src/manager/storage-resources/runtime/store-roots.js';
import { PluginLoader } from '../../../src/shared/storage-resources/loader.js';
import type { Plugin } from '../../../src/shared/storage-resources/api/plugin.js';
import { openStore } from './fixtures.js';

const pluginsDir = join(import.meta.dirname, '../../shared/storage-resources/plugins');

/** Deterministic timers: advance() fires due callbacks in time order, letting promises settle between. */
function fakeTimers(): DaemonTimers & { advance(ms: number): Promise<void>; settle(): Promise<void> } {
  let now = 0;
  let seq = 0;
  const pending = new Map<number, { at: number; fn: () => void }>();
  const settle = async () => {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  };
  return {
    now: () => now,
    setTimeout(fn, ms) {
      const id = ++seq;
      pending.set(id, { at: now + ms, fn });
      return id;
    },
    clearTimeout(h) {
      pending.delete(h as number);
    },
    settle,
    async advance(ms) {
      const end = now + ms;
      await settle();
      for (;;) {
        const due = [...pending.entries()]
          .filter(([, p]) => p.at <= end)
          .sort((a, b) => a[1].at - b[1].at)[0];
        if (!due) break;
        pending.delete(due[0]);
        now = due[1].at;
        due[1].fn();
        await settle();
      }
      now = end;
      await settle();
    },
  };
}

test('backoff: 1 s doubling to 256 s, reset after a run longer than 256 s', () => {
  const seq: number[] = [];
  let b = 0;
  for (let i = 0; i < 11; i++) seq.push((b = nextBackoffS(b, 1)));
  assert.deepEqual(seq, [1, 2, 4, 8, 16, 32, 64, 128, 256, 256, 256]);
  assert.equal(nextBackoffS(256, 257), 1);
  assert.equal(nextBackoffS(8, 256), 16);
});

async function fakeControllerRoot(
  store: ReturnType<typeof openStore>['store'],
  root: string,
): Promise<ScanRoot> {
  const loader = new PluginLoader();
  const loaded = await loader.load(join(pluginsDir, 'fake_controller.mjs'));
  const classes = loader.describeClasses();
  const mod = await import(loaded.entry);
  const Ctrl = mod.FakeController;
  const Klass = loaded.pluginClass as unknown as new (ctx: unknown) => Plugin;
  return {
    root,
    createPlugin: () =>
      new Klass({
        sink: store,
        root,
        rootResource: new Ctrl({ address: 'ctrl.example' }),
        classes,
        pluginName: loaded.name,
      }),
  };
}

test('initial scan persisted through the daemon; loop stopped when its root goes', async (t) => {
  const { store, q } = openStore(t);
  const timers = fakeTimers();
  let roots = [await fakeControllerRoot(store, 'ctrl-1')];
  const daemon = new ScanDaemon({ sink: store, listRoots: () => roots, timers });
  await daemon.start();
  await timers.settle();
  assert.equal(q.resourcesOfRoot('ctrl-1').length, 5, 'controller + 4 disks');
  assert.deepEqual(daemon.roots, ['ctrl-1']);
  roots = [];
  await timers.advance(5_000);
  assert.deepEqual(daemon.roots, []);
  await daemon.stop();
});

/** A plugin whose scans are scripted per run. */
function scripted(behaviour: (run: number, call: number) => Promise<void>, runs: number[]): ScanningPlugin {
  const run = runs.length;
  runs.push(0);
  return {
    updatePeriod: 10,
    doInitialScan: () => behaviour(run, runs[run]++),
    doPeriodicUpdate: () => behaviour(run, runs[run]++),
  };
}

test('a throwing plugin: offline alert reason, restart after 1 s, 2 s, 4 s', async () => {
  const timers = fakeTimers();
  const offline: [string, string, number][] = [];
  const runs: number[] = [];
  const starts: number[] = [];
  const daemon = new ScanDaemon({
    sink: { sessionOffline: async (root, reason) => void offline.push([root, reason, timers.now()]) },
    listRoots: () => [
      {
        root: 'r',
        createPlugin: () => {
          starts.push(timers.now());
          return scripted(async () => {
            throw new Error('controller not reachable');
          }, runs);
        },
      },
    ],
    timers,
    discoverEveryS: 1_000,
  });
  await daemon.start();
  await timers.advance(8_000);
  assert.deepEqual(starts, [0, 1_000, 3_000, 7_000]);
  assert.deepEqual(
    offline.map((o) => o[1]),
    Array(4).fill('controller not reachable'),
  );
  await daemon.stop();
});

test('a hanging scan is bounded: offline after the timeout, restarted; stop does not wait for it', async () => {
  const timers = fakeTimers();
  const offline: string[] = [];
  const runs: number[] = [];
  const daemon = new ScanDaemon({
    sink: { sessionOffline: async (_r, reason) => void offline.push(reason) },
    listRoots: () => [
      {
        root: 'r',
        createPlugin: () =>
          scripted((_run, call) => (call === 0 ? Promise.resolve() : new Promise(() => {})), runs),
      },
    ],
    timers,
    scanTimeoutMs: 30_000,
    discoverEveryS: 1_000,
  });
  await daemon.start();
  await timers.advance(10_000 + 29_000);
  assert.deepEqual(offline, []);
  await timers.advance(1_000);
  assert.deepEqual(offline, ['scan did not finish within 30 s']);
  await timers.advance(1_000);
  assert.equal(runs.length, 2, 'restarted after 1 s');
  await timers.advance(10_000);
  await daemon.stop();
  assert.deepEqual(daemon.roots, []);
});

const api = pathToFileURL(
  join(import.meta.dirname, '../../../src/shared/storage-resources/api/index.js'),
).href;
const COUNTING = `import { attributes, defineResource, identifiers, Plugin, resources } from '${api}';
export const version = 1;
export const Box = defineResource({
  name: 'Box', extends: resources.ScannableResource,
  identifier: identifiers.GlobalId('address'), attributes: { address: attributes.Hostname() },
});
export const Fan = defineResource({
  name: 'Fan', identifier: identifiers.ScopedId('n'), attributes: { n: attributes.Integer(), rpm: attributes.Integer() },
});
export class CountingPlugin extends Plugin {
  rpm = 1000;
  initialScan(root) { this.updatePeriod = 2; this.updateOrCreate(Fan, { n: 0, rpm: this.rpm }, [root]); }
  updateScan(root) { this.rpm += 100; this.updateOrCreate(Fan, { n: 0, rpm: this.rpm }, [root]); }
}
`;

test('updates applied every updatePeriod; roots come from the store (scannable, no parents)', async (t) => {
  const { store, q, dir } = openStore(t);
  const file = join(dir, 'counting.mjs');
  writeFileSync(file, COUNTING);
  const loader = new PluginLoader();
  await loader.load(file);
  const classes = loader.describeClasses();
  await store.sessionOpen(
    'box-1',
    classes,
    [{ handle: 1, class: 'counting.Box', attributes: { address: 'box.example' }, parents: [] }],
    5,
  );
  await store.sessionClose('box-1');
  const timers = fakeTimers();
  const daemon = new ScanDaemon({
    sink: store,
    listRoots: () => storeRoots({ queries: q, plugins: loader.plugins.values(), classes, sink: store }),
    timers,
  });
  await daemon.start();
  await timers.settle();
  const fan = () => q.resourcesOfRoot('box-1').find((r) => r.class === 'counting.Fan');
  assert.equal(q.resource(fan()!.id)!.attributes.rpm, 1000);
  await timers.advance(2_000);
  assert.equal(q.resource(fan()!.id)!.attributes.rpm, 1100);
  await timers.advance(4_000);
  assert.equal(q.resource(fan()!.id)!.attributes.rpm, 1300);
  await daemon.stop();
});

test('a modified root: its loop stops (teardown) and a new run starts with the new settings', async () => {
  const timers = fakeTimers();
  const events: string[] = [];
  let key = 'a';
  const daemon = new ScanDaemon({
    sink: { sessionOffline: async () => void events.push('offline') },
    listRoots: () => [
      {
        root: 'r',
        key,
        createPlugin: () => {
          const k = key;
          events.push(`start ${k}`);
          return {
            updatePeriod: 10,
            doInitialScan: async () => {},
            doPeriodicUpdate: async () => {},
            doTeardown: () => void events.push(`teardown ${k}`),
          };
        },
      },
    ],
    timers,
  });
  await daemon.start();
  await timers.advance(5_000);
  key = 'b';
  await timers.advance(5_000);
  assert.deepEqual(events, ['start a', 'teardown a', 'start b']);
  await daemon.stop();
  assert.deepEqual(events, ['start a', 'teardown a', 'start b', 'teardown b']);
});

test('real store: a failing update raises the root offline alert; a good run lowers it', async (t) => {
  const { store, q, dir } = openStore(t);
  const file = join(dir, 'flaky.mjs');
  writeFileSync(
    file,
    COUNTING.replace(
      'updateScan(root) {',
      'updateScan(root) { if (globalThis.flakyDown) throw new Error("box down");',
    ),
  );
  const loader = new PluginLoader();
  await loader.load(file);
  const classes = loader.describeClasses();
  await store.sessionOpen(
    'box-2',
    classes,
    [{ handle: 1, class: 'flaky.Box', attributes: { address: 'box2.example' }, parents: [] }],
    5,
  );
  await store.sessionClose('box-2');
  const timers = fakeTimers();
  const daemon = new ScanDaemon({
    sink: store,
    listRoots: () => storeRoots({ queries: q, plugins: loader.plugins.values(), classes, sink: store }),
    timers,
    discoverEveryS: 1_000,
  });
  const g = globalThis as { flakyDown?: boolean };
  g.flakyDown = true;
  t.after(() => delete g.flakyDown);
  await daemon.start();
  await timers.advance(2_000);
  const offline = () => q.alerts({ active: true, root: 'box-2' }).filter((a) => a.kind === 'offline');
  assert.equal(offline().length, 1, 'offline after the failed update');
  g.flakyDown = false;
  await timers.advance(1_000 + 2_000); // back-off 1 s, then one good update
  assert.equal(offline().length, 0, 'lowered after the next good update');
  await daemon.stop();
});
