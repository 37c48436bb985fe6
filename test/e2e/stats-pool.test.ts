// Statistics in a real two-host pool (issue 16, "a running pool graphs every host, VM and SR"):
// each host in its own network namespace with its manager and agent as processes, the agents
// sampling for real every 5 s, a test-guest VM started on the slave B, a local SR on B. Each
// member's /rrd_updates serves its own host and the VMs and SRs there (xapi: local host only), to
// the master's session, also through Xen Orchestra's xen-api client; /vm_rrd and /sr_rrd on the
// master send the client to B; the data-source messages and metrics fields reach B's agent
// through the master; the master's /metrics lists both hosts, the VM and the SR; the VM's RRD
// moves with it to A on VM.pool_migrate, and through the master's archive on a halt + start on B,
// the rows B first recorded intact.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseDumpXml } from '../../src/shared/rrd/dump.js';
import { createGuestVm, startMigrationPool, taskSettled } from '../helpers/migration-pool.js';
import type { PoolHost } from '../helpers/pool-harness.js';
import { waitFor } from '../helpers/stack.js';

interface Xport {
  meta: { start: number | string; end: number | string; rows: number | string; legend: string[] };
  data: { t: number | string; values: (number | string)[] }[];
}

/**
 * Xen Orchestra's reading of a pool (xo-server's xapi-stats): the real `xen-api` client, run
 * inside a member's namespace, logs in to the master and GETs /rrd_updates from every host
 * (getResource with the host record: its address, default port), then waits for the task it
 * made per request. Prints {hostUuid: legend} as JSON.
 */
const XO_READER = `
const [url, password, start] = process.argv.slice(1);
const { createClient } = await import(process.env.XEN_API);
const xapi = createClient({ url, auth: { user: 'root', password }, watchEvents: ['task'] });
await xapi.connect();
const legends = {};
for (const host of Object.values(await xapi.call('host.get_all_records'))) {
  const res = await xapi.getResource('/rrd_updates', {
    host,
    query: { cf: 'AVERAGE', host: 'true', interval: 5, json: 'true', start },
  });
  const chunks = [];
  for await (const c of res.body) chunks.push(c);
  legends[host.uuid] = JSON.parse(Buffer.concat(chunks).toString('utf8')).meta.legend;
  await Promise.race([res.task, new Promise((_, no) => setTimeout(() => no(new Error('task left pending')), 10000))]);
}
await xapi.disconnect();
console.log(JSON.stringify(legends));
process.exit(0);
`;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** GET path?query on host h's manager (through its forwarded API socket). */
function get(h: PoolHost, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath: h.apiSocket, path, method: 'GET', headers: { host: h.address } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Columns of `x` whose legend entry matches, with their newest known value (undefined: all NaN). */
function columns(x: Xport, re: RegExp): Map<string, number | undefined> {
  const out = new Map<string, number | undefined>();
  for (const [i, entry] of x.meta.legend.entries()) {
    if (!re.test(entry)) continue;
    const known = x.data.map((row) => Number(row.values[i])).find((v) => Number.isFinite(v));
    out.set(entry, known);
  }
  return out;
}

test('a two-host pool graphs both hosts and a VM on the slave; its RRD follows a migration', {
  timeout: 600_000,
}, async (t) => {
  const t0 = Date.now();
  const lap = (what: string) => console.log(`# ${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const {
    hosts: [a, b],
    refs: [aRef, bRef],
    master: c,
    localSrs: [, bSr],
  } = await startMigrationPool(t, { sharedSr: false, localSrs: true });
  lap('pool up');
  const session = c.sessionRef as string;
  const aUuid = String(await c.call('host.get_uuid', aRef));
  const bUuid = String(await c.call('host.get_uuid', bRef));
  const { vm, uuid } = await createGuestVm(c, 'stats-pool guest');
  t.after(() => c.call('VM.hard_shutdown', vm).catch(() => undefined));
  await c.call('VM.start_on', vm, bRef, false, false);
  lap('VM started on B');

  const updates = async (h: PoolHost, start: number): Promise<Xport> => {
    const r = await get(h, `/rrd_updates?start=${start}&host=true&json=true&session_id=${session}`);
    assert.equal(r.status, 200, `/rrd_updates on ${h.hostname}: ${r.status} ${r.body.slice(0, 300)}`);
    return JSON.parse(r.body) as Xport;
  };
  const vmCols = new RegExp(`^AVERAGE:vm:${uuid}:`);
  const since = Math.floor(Date.now() / 1000) - 60;

  // 1. Each member serves its own host and the VMs running on it, with numbers.
  let onB: Xport | undefined;
  await waitFor(
    async () => {
      onB = await updates(b, since);
      const cpu = columns(onB, vmCols).get(`AVERAGE:vm:${uuid}:cpu0`);
      return cpu !== undefined;
    },
    60_000,
    "the VM's cpu0 on B's /rrd_updates",
  );
  lap('VM columns on B');
  const bHost = columns(onB as Xport, new RegExp(`^AVERAGE:host:${bUuid}:`));
  assert.ok(bHost.has(`AVERAGE:host:${bUuid}:cpu0`), [...bHost.keys()].join(' '));
  assert.ok(Number.isFinite(bHost.get(`AVERAGE:host:${bUuid}:cpu_avg`)), "B's cpu_avg is a number");
  assert.ok(columns(onB as Xport, new RegExp(`:host:${aUuid}:`)).size === 0, 'no A column on B');
  const vmOnB = columns(onB as Xport, vmCols);
  assert.ok(vmOnB.has(`AVERAGE:vm:${uuid}:memory`), [...vmOnB.keys()].join(' '));

  const onA = await updates(a, since);
  const aHost = columns(onA, new RegExp(`^AVERAGE:host:${aUuid}:`));
  assert.ok(Number.isFinite(aHost.get(`AVERAGE:host:${aUuid}:cpu_avg`)), "A's cpu_avg is a number");
  assert.equal(columns(onA, new RegExp(`:vm:${uuid}:`)).size, 0, 'the VM is not on A');
  assert.equal(columns(onA, new RegExp(`:host:${bUuid}:`)).size, 0, 'B is not on A');

  // B's local SR: on B's /rrd_updates when asked for; /sr_rrd on the master sends the client to B.
  const srUuid = String(await c.call('SR.get_uuid', bSr));
  await waitFor(
    async () => {
      const r = await get(b, `/rrd_updates?start=${since}&json=true&sr_uuid=${srUuid}&session_id=${session}`);
      if (r.status !== 200) return false;
      return Number.isFinite(columns(JSON.parse(r.body) as Xport, /./).get(`AVERAGE:sr:${srUuid}:size`));
    },
    20_000,
    "B's SR size on B's /rrd_updates",
  );
  const srRedirect = await get(a, `/sr_rrd?uuid=${srUuid}&session_id=${session}`);
  assert.equal(srRedirect.status, 302, srRedirect.body);
  const srAt = new URL(String(srRedirect.headers.location));
  assert.equal(srAt.hostname, b.address);
  assert.equal((await get(b, `${srAt.pathname}${srAt.search}`)).status, 200);

  // As Xen Orchestra reads it: every host asked, each request's task settled (on the master).
  const xo = await a.exec(
    'env',
    [
      `XEN_API=${join(import.meta.dirname, '../../node_modules/xen-api/index.mjs')}`,
      process.execPath,
      '--input-type=module',
      '-e',
      XO_READER,
      `http://${a.address}`,
      a.rootPassword(),
      String(since),
    ],
    { timeoutMs: 60_000 },
  );
  assert.equal(xo.code, 0, `${xo.stdout}${xo.stderr}`);
  const xoLegends = JSON.parse(xo.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, string[]>;
  assert.ok(xoLegends[bUuid]?.includes(`AVERAGE:vm:${uuid}:cpu0`), 'xen-api reads the VM from B');
  assert.ok(xoLegends[aUuid]?.includes(`AVERAGE:host:${aUuid}:cpu_avg`), 'xen-api reads A');
  const pending = await c.call('task.get_all_records_where', 'field "status" = "pending"' as never);
  assert.deepEqual(Object.keys(pending as object), [], 'no task left pending on the master');
  lap('xen-api read every host');

  // 2. /vm_rrd on the master: 302 to B, where the dump is.
  const asked = `/vm_rrd?uuid=${uuid}&session_id=${session}`;
  const redirect = await get(a, asked);
  assert.equal(redirect.status, 302, redirect.body);
  const location = new URL(String(redirect.headers.location));
  assert.equal(location.hostname, b.address, `Location ${redirect.headers.location}`);
  const followed = await get(b, `${location.pathname}${location.search}`);
  assert.equal(followed.status, 200, followed.body.slice(0, 300));
  const dump = parseDumpXml(followed.body);
  assert.ok(dump, 'the dump parses');
  lap('/vm_rrd 302 followed');

  // 3. The data-source messages through the master reach B's agent.
  const names = ((await c.call('VM.get_data_sources', vm)) as { name_label: string }[]).map(
    (d) => d.name_label,
  );
  assert.ok(names.includes('cpu0') && names.includes('memory'), names.join(' '));
  const vmCpu = Number(await c.call('VM.query_data_source', vm, 'cpu0'));
  assert.ok(vmCpu >= 0 && vmCpu <= 1.05, `VM cpu0 ${vmCpu}`);
  const bAvg = Number(await c.call('host.query_data_source', bRef, 'cpu_avg'));
  assert.ok(bAvg >= 0 && bAvg <= 1, `B cpu_avg ${bAvg}`);
  // The master's metrics fields follow B's agent too (VCPUs_utilisation comes from the RRDs only).
  const metrics = await c.call('VM.get_metrics', vm);
  await waitFor(
    async () => {
      const record = (await c.call('VM_metrics.get_record', metrics as never)) as unknown as Record<
        string,
        unknown
      >;
      return '0' in ((record.VCPUs_utilisation ?? {}) as object);
    },
    20_000,
    'VM_metrics.VCPUs_utilisation of the VM on B',
  );

  // 5. The master's /metrics: both hosts and the VM.
  const scrape = await get(a, `/metrics?session_id=${session}`);
  assert.equal(scrape.status, 200, scrape.body.slice(0, 300));
  for (const host of [aUuid, bUuid])
    assert.match(scrape.body, new RegExp(`^berth_host_cpu_avg\\{host="${host}"`, 'm'), `host ${host}`);
  assert.match(scrape.body, new RegExp(`^berth_vm_memory\\{host="${bUuid}",vm="${uuid}"`, 'm'));
  assert.match(scrape.body, new RegExp(`^berth_sr_size\\{host="${bUuid}",sr="${srUuid}"`, 'm'));
  lap('messages and /metrics');

  // 4. The VM migrates to A: A's /rrd_updates then holds its columns with the rows B recorded.
  const knownRows = (x: Xport, column: string) => {
    const i = x.meta.legend.indexOf(column);
    return new Map(
      i < 0
        ? []
        : x.data
            .filter((row) => Number.isFinite(Number(row.values[i])))
            .map((row) => [Number(row.t), Number(row.values[i])]),
    );
  };
  const memory = `AVERAGE:vm:${uuid}:memory`;
  const onBefore = knownRows(await updates(b, since), memory);
  assert.ok(onBefore.size > 0, 'B recorded the VM');
  const task = String(await c.callAsync('VM.pool_migrate', vm, aRef, {}));
  const done = await taskSettled(c, task, 240_000);
  assert.equal(done.status, 'success', JSON.stringify(done.error_info));
  assert.equal(await c.call('VM.get_resident_on', vm), aRef);
  lap('migrated to A');
  let carried = 0;
  await waitFor(
    async () => {
      const onA = knownRows(await updates(a, since), memory);
      carried = [...onBefore].filter(([t, v]) => Math.abs((onA.get(t) ?? Number.NaN) - v) <= 1e-6 * v).length;
      return carried === onBefore.size;
    },
    30_000,
    "the VM's rows from B on A",
  );
  const afterB = await updates(b, since);
  assert.equal(columns(afterB, vmCols).size, 0, 'the VM is no longer on B');
  // B's replica learns the VM's new host a moment after the master (see the halt below).
  let redirectToA: Answer | undefined;
  await waitFor(
    async () => (redirectToA = await get(b, asked)).status === 302,
    15_000,
    'B sends the client to the VM on A',
  );
  assert.equal(new URL(String(redirectToA?.headers.location)).hostname, a.address);
  lap('history on A');

  // 6. Halted: the master's archive holds the RRD (B sends the client there), and the next start
  // (on B) goes on from it.
  await c.call('VM.hard_shutdown', vm);
  // The master takes the RRD from B after the halt, in the background (stats/hooks.ts).
  let archived: Answer | undefined;
  await waitFor(
    async () => (archived = await get(a, asked)).status === 200,
    15_000,
    "the halted VM's dump from the master's archive",
  );
  // B answers from its replica of the pool database, which learns of the halt a moment after
  // the master: until then it still sends the client to the VM's old host (A, here the master).
  let toMaster: Answer | undefined;
  await waitFor(
    async () => {
      toMaster = await get(b, asked);
      return toMaster.status === 302 && String(toMaster.headers.location).includes('rrd_unarchive');
    },
    15_000,
    "B's replica sees the halt and sends the client to the master's archive",
  );
  assert.equal(toMaster?.status, 302);
  const unarchive = new URL(String(toMaster?.headers.location));
  assert.equal(unarchive.hostname, a.address);
  assert.ok(unarchive.searchParams.has('rrd_unarchive'), unarchive.search);
  const followedToMaster = await get(a, `${unarchive.pathname}${unarchive.search}`);
  assert.equal(followedToMaster.body, archived?.body);
  await c.call('VM.start_on', vm, bRef, false, false);
  await waitFor(
    async () => {
      const back = knownRows(await updates(b, since), memory);
      return [...onBefore].every(([t, v]) => Math.abs((back.get(t) ?? Number.NaN) - v) <= 1e-6 * v);
    },
    30_000,
    "the VM's first rows on B again after a halt and a start",
  );
  lap('halt, archive, start again');
});
