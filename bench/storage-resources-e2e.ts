// The end-to-end part of `npm run bench:storage-resources` (issue 17: "an alert propagated to
// 1,000 descendants and reaching an event.from watcher as a message, under 100 ms"): a real manager
// (in this process, real SQLite file, HTTP on loopback) with its storage runtime, the 10,000-drive
// controller plugin of bench/storage-resources-plugins/ loaded from its plugin directory and run by
// the real scan daemon (update scan every 0.25 s), and a XenAPI client in another process
// long-polling event.from(["message"], token, 30) over JSON-RPC (bench/storage-resources-watcher.ts).
// Measured: from the start of the update scan that first reports shelf 0 FAILED to the watcher
// having parsed the STORAGE_RESOURCE_ALERT message (the plugin's delta and alert evaluation, the
// store's commit and propagation to the shelf's 1,000 drives, the message row, the event, the
// long poll's reply). Both ends read CLOCK_MONOTONIC (process.hrtime.bigint()).
import { type ChildProcess, fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/manager/config.js';
import { Manager } from '../src/manager/manager.js';
import { jcall, makeAgent, msBetween } from './rpc-client.js';
import {
  benchControl,
  DRIVES_PER_SHELF,
  SHELVES,
  VOLUMES,
} from './storage-resources-plugins/ten_thousand_drives.js';

const PLUGIN_DIR = join(import.meta.dirname, 'storage-resources-plugins');
const WATCHER = join(import.meta.dirname, 'storage-resources-watcher.ts');
const ROOT = 'bench-array';
const RESOURCES = 1 + SHELVES + SHELVES * DRIVES_PER_SHELF + VOLUMES;

interface Arrival {
  name: string;
  body: string;
  at: bigint;
}

export interface EndToEndResult {
  resources: number;
  initialScanMs: number;
  /** Raised alert, update scans reporting only the shelves. */
  raisedShelves: number[];
  /** Raised alert, update scans re-reporting every resource. */
  raisedFull: number[];
  /** Cleared alert (shelves-only scans). */
  cleared: number[];
  propagatedTo: number;
  /** GET /metrics with the array stored and one alert active: times, bytes, samples. */
  scrapeMs: number[];
  scrapeBytes: number;
  scrapeSamples: number;
}

async function until<T>(what: string, fn: () => T | undefined, ms: number, every = 10): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, every));
  }
}

export async function runEndToEnd(runs: number): Promise<EndToEndResult> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-resources-e2e-'));
  const dataDir = join(dir, 'data');
  const token = 'bench-scrape-token';
  writeFileSync(join(dir, 'metrics.token'), token, { mode: 0o600 });
  const config = parseConfig(
    [
      ...['--data-dir', dataDir, '--listen', '127.0.0.1', '--http-port', '0', '--https-port', 'off'],
      ...['--socket', join(dir, 'xapi.sock'), '--nbd-port', 'off', '--storage-plugin-dir', PLUGIN_DIR],
      ...['--metrics-token-file', join(dir, 'metrics.token')],
    ],
    {},
  );
  const control = benchControl();
  control.failedShelf = -1;
  control.fullRescan = false;
  const manager = await Manager.open(config, { agent: false, timers: false, networking: false });
  let watcher: ChildProcess | undefined;
  try {
    const { httpPort } = await manager.listen();
    const rt = manager.storageResources;
    if (!rt) throw new Error('the storage runtime did not start');
    if (!rt.plugins.loader.plugins.has('ten_thousand_drives'))
      throw new Error(`plugin not loaded: ${JSON.stringify([...rt.plugins.errored])}`);

    // The array as a user adds it; the daemon's next look starts its loop (initial scan).
    await rt.store.sessionOpen(
      ROOT,
      rt.plugins.classes,
      [{ handle: 1, class: 'ten_thousand_drives.Array10k', attributes: { name: ROOT }, parents: [] }],
      5,
    );
    await rt.store.sessionClose(ROOT);
    const t0 = performance.now();
    await rt.daemon.discover();
    await until(
      'the initial scan',
      () => (rt.store.queries.resourcesOfRoot(ROOT).length === RESOURCES ? true : undefined),
      180_000,
      25,
    );
    const initialScanMs = performance.now() - t0;

    const agent = makeAgent(4);
    const password = readFileSync(join(dataDir, 'root-password'), 'utf8').trim();
    const session = await jcall(agent, httpPort!, 'session.login_with_password', [
      'root',
      password,
      '1.0',
      'bench',
    ]);
    const arrivals: Arrival[] = [];
    watcher = fork(WATCHER, [String(httpPort), session], { execArgv: ['--import', 'tsx'] });
    await new Promise<void>((resolve, reject) => {
      watcher!.once('error', reject);
      watcher!.on('message', (m: 'ready' | { name: string; body: string; at: string }) => {
        if (m === 'ready') resolve();
        else arrivals.push({ name: m.name, body: m.body, at: BigInt(m.at) });
      });
    });

    const next = (name: string) =>
      until(
        name,
        () => {
          const i = arrivals.findIndex((a) => a.name === name && a.body.includes('Shelf failure'));
          return i < 0 ? undefined : arrivals.splice(i, 1)[0];
        },
        30_000,
        2,
      );
    const result: EndToEndResult = {
      resources: RESOURCES,
      initialScanMs,
      raisedShelves: [],
      raisedFull: [],
      cleared: [],
      propagatedTo: 0,
      scrapeMs: [],
      scrapeBytes: 0,
      scrapeSamples: 0,
    };
    for (const full of [false, true]) {
      control.fullRescan = full;
      for (let r = 0; r < runs; r++) {
        control.failedShelf = 0;
        const raised = await next('STORAGE_RESOURCE_ALERT');
        (full ? result.raisedFull : result.raisedShelves).push(
          msBetween(control.changeScanStartedAt, raised.at),
        );
        result.propagatedTo = Number(/propagated_to: (\d+)/.exec(raised.body)?.[1] ?? 0);
        control.failedShelf = -1;
        const cleared = await next('STORAGE_RESOURCE_ALERT_CLEARED');
        if (!full) result.cleared.push(msBetween(control.changeScanStartedAt, cleared.at));
      }
    }
    // /metrics with 10,000 temperature series and an active alert, as Prometheus scrapes (bearer token).
    control.failedShelf = 0;
    await next('STORAGE_RESOURCE_ALERT');
    const auth = `Bearer ${token}`;
    for (let r = 0; r < runs; r++) {
      const t1 = performance.now();
      const text = await (
        await fetch(`http://127.0.0.1:${httpPort}/metrics`, { headers: { authorization: auth } })
      ).text();
      result.scrapeMs.push(performance.now() - t1);
      result.scrapeBytes = Buffer.byteLength(text);
      result.scrapeSamples = text.split('\n').filter((l) => l.startsWith('berth_storage_resource')).length;
    }
    agent.destroy();
    return result;
  } finally {
    watcher?.kill();
    await manager.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
