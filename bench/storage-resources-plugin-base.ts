// The plugin base alone (src/shared/storage-resources/api/plugin.ts), for profiling its share of
// the end-to-end bench: the 10,000-drive plugin of bench/storage-resources-plugins/ (11,011
// resources) in update scans that re-report everything, into a sink that does nothing. Two
// rounds alternate: shelf 0 FAILED then OK again (one attribute, one alert state sent), and a
// round where nothing changed (nothing sent but sessionUpdateDone).
//   npx tsx bench/storage-resources-plugin-base.ts            (BENCH_RUNS rounds of each, default 30)
//   node --cpu-prof --import tsx bench/storage-resources-plugin-base.ts
import { loadavg } from 'node:os';
import { setClassPlugin } from '../src/shared/storage-resources/api/resource.js';
import type { ResourceSessionSink } from '../src/shared/storage-resources/session.js';
import * as bench from './storage-resources-plugins/ten_thousand_drives.js';

for (const v of Object.values(bench))
  if (typeof v === 'function' && 'meta' in v) setClassPlugin(v as never, 'ten_thousand_drives');

let calls = 0;
const count = async () => {
  calls++;
};
const sink: ResourceSessionSink = {
  sessionOpen: count,
  sessionAddResources: count,
  sessionUpdateResource: count,
  sessionResourceAddParent: count,
  sessionResourceRemoveParent: count,
  sessionRemoveLocalResources: count,
  sessionRemoveGlobalResources: count,
  sessionNotifyAlert: count,
  sessionOffline: count,
  sessionClose: count,
  sessionUpdateDone: count,
};
const plugin = new bench.TenThousandDrives({
  sink,
  root: 'bench',
  rootResource: new bench.Array10k({ name: 'bench' }),
  classes: [],
  pluginName: 'ten_thousand_drives',
});
const control = bench.benchControl();
control.failedShelf = -1;
control.fullRescan = true;
let scanMs = 0;
const updateScan = plugin.updateScan.bind(plugin);
plugin.updateScan = (root) => {
  const t0 = performance.now();
  updateScan(root);
  scanMs = performance.now() - t0;
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const runs = Number(process.env.BENCH_RUNS ?? 30);
console.log(
  `# plugin base, ${new Date().toISOString()}, load ${loadavg()[0].toFixed(2)}, ${runs} rounds each`,
);
let t0 = performance.now();
await plugin.doInitialScan();
console.log(`initial scan + sessionOpen: ${(performance.now() - t0).toFixed(1)} ms`);
for (const changing of [true, false]) {
  const total: number[] = [];
  const scan: number[] = [];
  let sent = 0;
  for (let i = 0; i < runs; i++) {
    if (changing) control.failedShelf = control.failedShelf === 0 ? -1 : 0;
    calls = 0;
    t0 = performance.now();
    await plugin.doPeriodicUpdate();
    total.push(performance.now() - t0);
    scan.push(scanMs);
    sent = calls;
  }
  console.log(
    `${changing ? 'shelf 0 flips' : 'nothing changed'}: round median ${median(total).toFixed(1)} ms ` +
      `(min ${Math.min(...total).toFixed(1)}, max ${Math.max(...total).toFixed(1)}), of which updateScan ` +
      `(11,011 updateOrCreate + the plugin's own loop) ${median(scan).toFixed(1)} ms; sink calls per round: ${sent}`,
  );
}
