// npm run bench:data-plane — issue 14's data-plane figures, each against its peer measured in the
// same run: every module in bench/data-plane/ exports `run()` returning rows (Berth's figure, the
// peer's, their ratio and the target). Modules run one after another so that they do not
// compete for the two cores. `npm run bench:data-plane -- export nbd` runs only those modules.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Row } from './data-plane-row.js';

const dir = join(import.meta.dirname, 'data-plane');
const only = process.argv.slice(2);
const modules = readdirSync(dir)
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.slice(0, -3))
  .filter((m) => only.length === 0 || only.includes(m))
  .sort();

const fmt = (n: number | null) => (n === null ? '—' : Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(2));
const rows: Array<Row & { module: string }> = [];
let failed = false;
console.log(`# bench:data-plane ${new Date().toISOString()} node ${process.version}`);
for (const m of modules) {
  const mod = (await import(join(dir, `${m}.ts`))) as { run?: () => Promise<Row[]> };
  if (typeof mod.run !== 'function') continue;
  try {
    for (const r of await mod.run()) rows.push({ module: m, ...r });
  } catch (e) {
    failed = true;
    console.error(`${m}: ${e instanceof Error ? e.stack : String(e)}`);
  }
}
console.log('\n| module | measure | Berth | peer | unit | ratio | target |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows)
  console.log(
    `| ${r.module} | ${r.name} | ${fmt(r.berth)} | ${fmt(r.peer)} | ${r.unit} | ${r.ratio === null ? '—' : r.ratio.toFixed(2)} | ${r.target} |`,
  );
process.exitCode = failed ? 1 : 0;
