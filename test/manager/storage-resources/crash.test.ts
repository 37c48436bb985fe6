// SIGKILL in the middle of a sequence of session calls: the database holds exactly the state of
// the last completed call (or of the one being acknowledged), never a mixture, and no row that
// points at a missing record.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../helpers/tmp.js';
import { WINDOW, windowOf } from './crash-child.js';
import { CTRL_CLASSES, controllerReport, dumpTables, openStore } from './fixtures.js';

async function runAndKill(path: string, afterCommits: number, delayMs: number): Promise<number> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(import.meta.dirname, 'crash-child.ts'), path],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  let out = '';
  child.stdout.on('data', (b) => {
    out += b;
  });
  const exited = new Promise((r) => child.once('exit', r));
  const deadline = Date.now() + 120_000;
  while (!out.includes(`committed ${afterCommits}\n`) && Date.now() < deadline && child.exitCode === null)
    await new Promise((r) => setTimeout(r, 1));
  await new Promise((r) => setTimeout(r, delayMs));
  child.kill('SIGKILL');
  await exited;
  const seen = [...out.matchAll(/committed (\d+)/g)].map((m) => Number(m[1]));
  assert.ok(seen.length > afterCommits, `child committed ${afterCommits + 1} calls: ${out}`);
  return seen.at(-1)!;
}

for (const [afterCommits, delayMs] of [
  [1, 0],
  [2, 15],
  [2, 40],
]) {
  test(`SIGKILL ${delayMs} ms after call ${afterCommits}: the state of one whole call`, async (t) => {
    const dir = tempDir(t, 'berth-resource-crash-');
    const path = join(dir, 'berth.db');
    const last = await runAndKill(path, afterCommits, delayMs);
    const { store, q } = openStore(t, dir);
    const serials = q
      .resourcesOfClass('ctrl.Drive')
      .map((r) => q.resource(r.id)!.attributes.serial as string)
      .sort();
    assert.equal(serials.length, WINDOW, 'exactly one window of drives');
    const k = [last, last + 1].find((i) => JSON.stringify(windowOf(i).sort()) === JSON.stringify(serials));
    assert.ok(k !== undefined, `drives are the window of call ${last} or ${last + 1}`);
    // Every drive whole: its attributes, its enclosure edge, its reporter.
    const tables = await dumpTables(path);
    const ids = new Set((tables._resource_record as { id: number }[]).map((r) => r.id));
    assert.equal(ids.size, WINDOW + 2);
    for (const [table, cols] of Object.entries({
      _resource_attribute: ['record_id', 'ref_id'],
      _resource_parent: ['child_id', 'parent_id'],
      _resource_reported_by: ['record_id'],
      _resource_alert_propagated: ['record_id'],
    }))
      for (const row of tables[table] as Record<string, number | null>[])
        for (const c of cols)
          if (row[c] !== null) assert.ok(ids.has(row[c]!), `${table}.${c} ${row[c]} exists`);
    assert.equal((tables._resource_parent as unknown[]).length, WINDOW + 1);
    assert.equal((tables._resource_reported_by as unknown[]).length, WINDOW + 1);
    // Each call's open lowered the previous call's alert (its drive was culled); its notify
    // raised one on the first drive of its window, unless the kill came between the two calls.
    const active = q.alerts({ active: true });
    assert.ok(active.length <= 1);
    if (active.length === 1)
      assert.equal(q.resource(active[0].resourceId!)!.attributes.serial, windowOf(k!)[0]);
    assert.ok(q.alerts({ active: false }).length >= k!, 'earlier alerts kept as history');
    // The store carries on from there.
    await store.sessionOpen('crash', CTRL_CLASSES, controllerReport('c', ['X']), 5);
    assert.equal(q.resourcesOfClass('ctrl.Drive').length, 1);
  });
}
