// npm run fuzz:api — a long mutation-fuzz run against a real manager (FUZZ_ITERATIONS, FUZZ_SEED).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fuzzApi } from '../test/helpers/fuzz-api.js';
import { parseConfig } from '../src/manager/config.js';
import { Manager } from '../src/manager/manager.js';

const iterations = Number(process.env.FUZZ_ITERATIONS ?? 50_000);
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const dir = mkdtempSync(join(tmpdir(), 'berth-fuzz-'));
const config = parseConfig(
  [
    '--data-dir',
    dir,
    '--listen',
    '127.0.0.1',
    '--http-port',
    '0',
    '--https-port',
    'off',
    '--socket',
    join(dir, 'xapi.sock'),
    '--auth-failure-delay-ms',
    '0',
  ],
  {},
);
const manager = await Manager.open(config, { timers: false, agent: false, networking: false });
const where = await manager.listen();
const session = manager.svc.sessions.localLogin('fuzz');
const t0 = Date.now();
const report = await fuzzApi(where.httpPort!, session, iterations, seed);
console.log(
  `fuzz:api seed ${seed}: ${report.sent} requests in ${((Date.now() - t0) / 1000).toFixed(1)} s; statuses ${JSON.stringify(report.statuses)}`,
);
for (const f of report.failures.slice(0, 20)) console.log(`FAIL ${f}`);
await manager.close();
rmSync(dir, { recursive: true, force: true });
process.exit(report.failures.length ? 1 : 0);
