// Issue 13, "killing any one daemon loses nothing", on three namespaced hosts with real daemons:
// a join with a wrong password leaves the joining host its own pool; the master's manager
// SIGKILLed right after acknowledged writes comes back with all of them, its members live again
// and its slaves resync; the master's own agent SIGKILLed takes the master host offline and back
// while its VM keeps running; a slave's manager SIGKILLed in the middle of a burst of replicated
// writes comes back with a replica equal to the master's rows.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Sqlite from 'better-sqlite3';
import type { XenApiClient, XenApiError } from '../../src/clients/sdk/client.js';
import { defaultTemplates } from '../../src/manager/bootstrap/templates.js';
import { baseVmRecord } from '../../src/manager/bootstrap/vm-record.js';
import { killQemusUnder } from '../agent/helpers/guest.js';
import { hostLive, type PoolHost, qemuCmdline, startHosts } from '../helpers/pool-harness.js';
import { ensureGuest, GUEST_DIR, waitFor } from '../helpers/stack.js';

/**
 * The pool database's rows in a host's store (sessions, tasks, Berth's own `_` tables and SQLite's
 * `sqlite_sequence`, which the resource store's AUTOINCREMENT keys create, left out).
 */
function storedRows(h: PoolHost): Record<string, unknown[]> {
  const db = new Sqlite(join(h.dataDir, 'berth.db'), { readonly: true, fileMustExist: true });
  try {
    const tables = db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
      )
      .pluck()
      .all() as string[];
    const out: Record<string, unknown[]> = {};
    for (const t of tables.sort()) {
      if (t === 'session' || t === 'task') continue;
      out[t] = db.prepare(`SELECT * FROM "${t}" ORDER BY _ref`).all();
    }
    return out;
  } finally {
    db.close();
  }
}

function sameRows(a: PoolHost, b: PoolHost): boolean {
  return JSON.stringify(storedRows(a)) === JSON.stringify(storedRows(b));
}

test('killing any one daemon of a namespaced pool loses nothing', { timeout: 600_000 }, async (t) => {
  await ensureGuest();
  const pool = await startHosts(3, { t });
  for (const h of pool.hosts) t.after(() => killQemusUnder(h.runDir));
  const [m, s1, s2] = pool.hosts;

  // Bad joins: xapi's error, both stores exactly as they were, the joining host keeps its own pool.
  const guest = defaultTemplates(GUEST_DIR)[0].record;
  const c1 = await s1.client();
  const refused = async (code: string, p: Promise<unknown>) => {
    const before = [storedRows(m), storedRows(s1)];
    await assert.rejects(p, (e: XenApiError) => {
      assert.equal(e.code, code);
      return true;
    });
    assert.deepEqual([storedRows(m), storedRows(s1)], before, `${code}: both databases unchanged`);
    const s1Hosts = await c1.call('host.get_all');
    assert.equal(s1Hosts.length, 1);
    assert.equal(await c1.call('pool.get_master', (await c1.call('pool.get_all'))[0]), s1Hosts[0]);
    assert.equal(existsSync(join(s1.dataDir, 'pool.conf')), false, `${code}: s1 is still a master`);
  };
  await refused('SESSION_AUTHENTICATION_FAILED', c1.call('pool.join', m.address, 'root', 'not-the-password'));
  // A real running VM on the joining host.
  const busy = await c1.call('VM.create', baseVmRecord({ ...guest, name_label: 'busy' }) as never);
  await c1.call('VM.start', busy, false, false);
  await refused(
    'JOINING_HOST_CANNOT_HAVE_RUNNING_VMS',
    c1.call('pool.join', m.address, 'root', m.rootPassword()),
  );
  await c1.call('VM.hard_shutdown', busy);
  await c1.call('VM.destroy', busy);

  for (const s of [s1, s2]) await (await s.client()).call('pool.join', m.address, 'root', m.rootPassword());
  let master = await m.client();
  const hosts = await master.call('host.get_all');
  const records = await Promise.all(hosts.map((h) => master.call('host.get_record', h)));
  const refOf = (h: PoolHost) => hosts[records.findIndex((r) => r.address === h.address)];
  const allLive = async (c: XenApiClient) =>
    (await Promise.all(hosts.map((h) => hostLive(c, h)))).every(Boolean);
  await waitFor(() => allLive(master), 60_000, 'every host live');

  // (b) The master's own agent SIGKILLed: the master host goes offline and comes back; the VM
  // it runs keeps running throughout.
  const vm = await master.call('VM.create', baseVmRecord({ ...guest, name_label: 'on-master' }) as never);
  await master.call('VM.start_on', vm, refOf(m), false, false);
  const uuid = String(await master.call('VM.get_uuid', vm));
  assert.ok(qemuCmdline(m, uuid));
  await m.kill('agent');
  await waitFor(async () => !(await hostLive(master, refOf(m))), 30_000, 'master host not live');
  assert.ok(qemuCmdline(m, uuid), 'the VM outlives the master host agent');
  await m.start('agent');
  await waitFor(() => hostLive(master, refOf(m)), 60_000, 'master host live again');
  assert.equal(await master.call('VM.get_power_state', vm), 'Running');
  assert.ok(qemuCmdline(m, uuid));

  // (a) The master's manager SIGKILLed right after acknowledged writes.
  const poolRef = (await master.call('pool.get_all'))[0];
  const acked: string[] = [];
  for (let i = 0; i < 5; i++)
    acked.push(await master.call('VM.create', baseVmRecord({ ...guest, name_label: `acked-${i}` }) as never));
  await master.call('pool.set_name_description', poolRef, 'just before the kill');
  await m.kill('manager');
  await m.start('manager');
  master = await m.client();
  const vmsAfter = new Set(await master.call('VM.get_all'));
  for (const ref of acked) assert.ok(vmsAfter.has(ref), `acknowledged VM ${ref} survived the kill`);
  assert.equal(await master.call('pool.get_name_description', poolRef), 'just before the kill');
  await waitFor(() => allLive(master), 60_000, 'members live after the master restarted');
  assert.equal(await master.call('VM.get_power_state', vm), 'Running');
  // Slaves resync with the restarted master (a new master database id: a full dump).
  await master.call('pool.set_name_description', poolRef, 'after the restart');
  await waitFor(() => sameRows(m, s1) && sameRows(m, s2), 60_000, 'slaves resynced');

  // (c) A slave's manager SIGKILLed in the middle of a burst of replicated writes.
  const burst = acked.map((ref, i) =>
    (async () => {
      for (let k = 0; k < 20; k++) await master.call('VM.set_name_description', ref, `burst ${i}.${k}`);
    })(),
  );
  await new Promise((r) => setTimeout(r, 300));
  await s2.kill('manager');
  await Promise.all(burst);
  await s2.start('manager');
  await waitFor(() => sameRows(m, s2), 60_000, "the restarted slave's replica equals the master's rows");
  await waitFor(() => sameRows(m, s1), 60_000, "the other slave's replica equals the master's rows");
  assert.equal(String(storedRows(s2).VM?.length), String(storedRows(m).VM?.length));

  await master.call('VM.hard_shutdown', vm);
  await waitFor(() => qemuCmdline(m, uuid) === undefined, 30_000, 'QEMU gone');
});
