// Short seeded mutation-fuzz runs against a real manager: the RPC endpoints (the long run: npm run
// fuzz:api) and POST /cli.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzzApi } from '../helpers/fuzz-api.js';
import { fuzzCli } from '../helpers/fuzz-cli.js';
import { startManager } from '../helpers/manager.js';

test('mutated XML-RPC and JSON-RPC requests never crash or hang the manager', {
  timeout: 120_000,
}, async (t) => {
  const m = await startManager(t);
  const session = m.manager.svc.sessions.localLogin('fuzz');
  const port = Number(new URL(m.httpUrl).port);
  const report = await fuzzApi(
    port,
    session,
    Number(process.env.FUZZ_ITERATIONS ?? 600),
    Number(process.env.FUZZ_SEED ?? 1),
  );
  assert.deepEqual(report.failures, []);
  assert.equal(report.sent, Number(process.env.FUZZ_ITERATIONS ?? 600));
  // Both in-band errors and transport-level refusals were exercised.
  assert.ok((report.statuses['200'] ?? 0) > 0, JSON.stringify(report.statuses));
  assert.ok(
    Object.keys(report.statuses).some((s) => s !== '200'),
    JSON.stringify(report.statuses),
  );
  // Still healthy afterwards.
  const hosts = await m.manager.svc.call(m.manager.svc.sessions.get(session)!, 'host.get_all', []);
  assert.equal((hosts as string[]).length, 1);
});

test('mutated POST /cli conversations (captured xe bodies and client streams) never hang the manager', {
  timeout: 300_000,
}, async (t) => {
  const m = await startManager(t);
  const port = Number(new URL(m.httpUrl).port);
  const cases = Number(process.env.FUZZ_CLI_CASES ?? 150);
  const report = await fuzzCli(port, m.rootPassword, cases, Number(process.env.FUZZ_SEED ?? 1));
  assert.deepEqual(report.failures, []);
  assert.equal(report.sent, cases);
  assert.ok((report.outcomes.answered ?? 0) > cases / 2, JSON.stringify(report.outcomes));
  // Still healthy afterwards.
  const s = m.manager.svc.sessions.localLogin('fuzz-after');
  const hosts = await m.manager.svc.call(m.manager.svc.sessions.get(s)!, 'host.get_all', []);
  assert.equal((hosts as string[]).length, 1);
});
