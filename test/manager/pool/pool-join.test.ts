// Pool membership on loopback: real managers and real agents, joined through the API alone.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { PassThrough } from 'node:stream';
import { createClient } from 'xen-api';
import { runThinClient } from '../../../src/clients/xe/session.js';
import { XenApiClient } from '../../../src/clients/sdk/client.js';
import type { Database } from '../../../src/manager/db/database.js';
import { expectError } from './expect.js';
import { type Member, startPoolHosts, waitFor } from './harness.js';

const run = promisify(execFile);

/** Runs the xe thin client against a member over TCP with root's password. */
async function xe(member: Member, port: number, password: string, args: string[]) {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (c) => (stdout += c));
  err.on('data', (c) => (stderr += c));
  const opts = {
    server: member.address,
    port,
    username: 'root',
    password,
    nossl: true,
    debug: false,
    socket: '',
    args,
  };
  const code = await runThinClient(opts, {
    stdout: out,
    stderr: err,
    stdin: new PassThrough(),
    progress: false,
  });
  return { code, stdout, stderr };
}

/** Every API object of a database (sessions and tasks are per call, not content). */
function snapshot(db: Database): string {
  const out: Record<string, unknown> = {};
  for (const cls of db.storedClasses()) {
    if (cls === 'session' || cls === 'task') continue;
    out[cls] = Object.fromEntries([...db.all(cls)].sort(([a], [b]) => a.localeCompare(b)));
  }
  return JSON.stringify(out);
}

const dbOf = (m: Member) => m.manager!.db;

/** A member's role and pool secret files (absent: a fresh host, master of its own pool). */
function roleFiles(m: Member): (string | undefined)[] {
  return ['pool.conf', 'pool-secret'].map((f) =>
    existsSync(join(m.dataDir, f)) ? readFileSync(join(m.dataDir, f), 'utf8') : undefined,
  );
}

test('a host joins through the API; records, liveness, replica, HOST_IS_SLAVE', {
  timeout: 90_000,
}, async (t) => {
  const { members, port } = await startPoolHosts(t, [{}, {}]);
  const [m, j] = members;
  // The joining host's own objects: a VM of its own, on its local SR (when it has one).
  const jVm = String(
    dbOf(j).create('VM', { name_label: 'joiner-vm', power_state: 'Halted', is_a_template: false }),
  );
  const jSrs = [...dbOf(j).all('SR').keys()];
  t.diagnostic(`joiner SRs: ${jSrs.length}, VDIs: ${dbOf(j).count('VDI')}`);
  const templatesBefore = [...dbOf(m).all('VM').values()].filter((v) => v.is_default_template).length;

  const cj = await j.client();
  await cj.call('pool.join', m.address, 'root', m.rootPassword);

  const cm = await m.client();
  const hosts = await cm.call('host.get_all_records');
  assert.equal(Object.keys(hosts).length, 2);
  const jRef = Object.keys(hosts).find((r) => hosts[r].uuid === j.hostUuid)!;
  assert.ok(jRef, 'joined host on the master');
  const cpus = await cm.call('host_cpu.get_all_records');
  assert.ok(Object.values(cpus).some((c) => c.host === jRef));
  const vms = await cm.call('VM.get_all_records');
  assert.ok(Object.values(vms).some((v) => v.is_control_domain && v.resident_on === jRef));
  assert.equal(vms[jVm]?.name_label, 'joiner-vm', "the joiner's VM is in the pool");
  // The joiner's default templates stay behind: the master keeps only its own.
  assert.equal(Object.values(vms).filter((v) => v.is_default_template).length, templatesBefore);
  for (const sr of jSrs) assert.ok(dbOf(m).get('SR', sr), 'local SR moved to the master');
  const pool = Object.values(await cm.call('pool.get_all_records'))[0];
  assert.notEqual(pool.master, jRef);

  // The master reaches the joined host's agent: live.
  await waitFor('joined host live', async () => {
    const metrics = await cm.call('host.get_metrics', jRef);
    return (await cm.call('host_metrics.get_live', metrics)) === true;
  });

  // The slave refuses logins with the master's address.
  const direct = new XenApiClient({ url: j.url });
  const e = await expectError(direct.login('root', m.rootPassword), 'HOST_IS_SLAVE');
  assert.deepEqual(e.params, [m.address]);
  // ...and the calls of a session it still holds, but for its emergency set.
  await expectError(cj.call('VM.get_all'), 'HOST_IS_SLAVE');
  assert.equal(typeof (await cj.call('host.get_servertime', jRef)), 'string');

  // The slave's replica follows the master.
  await cm.call('pool.set_name_label', Object.keys(await cm.call('pool.get_all_records'))[0], 'replicated');
  await waitFor('replica', () => {
    const pools = [...dbOf(j).all('pool').values()];
    return pools.length === 1 && pools[0].name_label === 'replicated';
  });
  assert.equal(dbOf(j).count('VM'), dbOf(m).count('VM'));
  assert.equal(dbOf(j).get('host', jRef)?.uuid, j.hostUuid);

  // xen-api, pointed at the slave, follows HOST_IS_SLAVE to the master (same port).
  for (const transport of ['json-rpc', 'xml-rpc']) {
    const xapi = createClient({
      url: `http://${j.address}:${port}`,
      auth: { user: 'root', password: m.rootPassword },
      transport,
      watchEvents: ['pool', 'host'],
    });
    await xapi.connect();
    await xapi.objectsFetched;
    const xhosts = Object.values(xapi.objects.all).filter((o: any) => o.$type === 'host');
    assert.equal(xhosts.length, 2, `xen-api (${transport}) sees both hosts`);
    await xapi.disconnect();
  }

  // xe: the master lists both hosts; the slave refuses with the master's address.
  const listed = await xe(m, port, m.rootPassword, ['host-list', '--minimal']);
  assert.equal(listed.code, 0, listed.stderr);
  assert.equal(listed.stdout.trim().split(',').sort().join(','), [m.hostUuid, j.hostUuid].sort().join(','));
  const refused = await xe(j, port, m.rootPassword, ['host-list']);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, new RegExp(m.address.replaceAll('.', '\\.')));

  // XenAPI.py: a Failure HOST_IS_SLAVE with the master's address; reconnecting there works.
  if (existsSync('/usr/lib/python3/dist-packages/os_xenapi')) {
    const code = [
      'import sys',
      'from os_xenapi.client import XenAPI',
      'slave, port, pw = sys.argv[1:4]',
      's = XenAPI.Session("http://%s:%s/" % (slave, port))',
      'try:',
      '    s.xenapi.login_with_password("root", pw, "2.21", "pool-test")',
      '    print("no-redirect")',
      'except XenAPI.Failure as f:',
      '    assert f.details[0] == "HOST_IS_SLAVE", f.details',
      '    s = XenAPI.Session("http://%s:%s/" % (f.details[1], port))',
      '    s.xenapi.login_with_password("root", pw, "2.21", "pool-test")',
      '    print(len(s.xenapi.host.get_all()), f.details[1])',
    ].join('\n');
    const { stdout } = await run('/usr/bin/python3', ['-c', code, j.address, String(port), m.rootPassword]);
    assert.equal(stdout.trim(), `2 ${m.address}`);
  } else t.diagnostic('python3-os-xenapi not installed: XenAPI.py part skipped');
});

test('bad joins get xapi errors and leave both databases unchanged', { timeout: 120_000 }, async (t) => {
  const { members } = await startPoolHosts(t, [{}, {}, {}]);
  const [m, j, k] = members;
  const cj = await j.client();
  const unchanged = async (what: string, code: string, p: Promise<unknown>) => {
    const before = [snapshot(dbOf(m)), snapshot(dbOf(j)), roleFiles(m), roleFiles(j)];
    await expectError(p, code);
    assert.equal(snapshot(dbOf(m)), before[0], `${what}: master unchanged`);
    assert.equal(snapshot(dbOf(j)), before[1], `${what}: joiner unchanged`);
    // Their roles and pool secrets too: both are still masters of their own pools.
    assert.deepEqual([roleFiles(m), roleFiles(j)], [before[2], before[3]], `${what}: roles unchanged`);
    assert.equal(m.manager!.svc.pool!.isMaster() && j.manager!.svc.pool!.isMaster(), true);
  };
  await unchanged(
    'wrong password',
    'SESSION_AUTHENTICATION_FAILED',
    cj.call('pool.join', m.address, 'root', 'wrong'),
  );
  await unchanged(
    'unreachable master',
    'JOINING_HOST_CONNECTION_FAILED',
    cj.call('pool.join', '127.0.0.250', 'root', m.rootPassword),
  );
  await unchanged('itself', 'OPERATION_NOT_ALLOWED', cj.call('pool.join', j.address, 'root', j.rootPassword));

  // A different CPU vendor: not homogeneous (join_force skips this check).
  const jHost = j.manager!.svc.hostRef();
  const cpuInfo = dbOf(j).get('host', jHost)!.cpu_info as Record<string, string>;
  dbOf(j).update('host', jHost, { cpu_info: { ...cpuInfo, vendor: 'OtherVendor' } });
  await unchanged(
    'cpu vendor',
    'HOSTS_NOT_HOMOGENEOUS',
    cj.call('pool.join', m.address, 'root', m.rootPassword),
  );
  dbOf(j).update('host', jHost, { cpu_info: cpuInfo });

  // A running VM on the joiner.
  const vm = String(dbOf(j).create('VM', { name_label: 'busy', power_state: 'Running', resident_on: jHost }));
  await unchanged(
    'running VM',
    'JOINING_HOST_CANNOT_HAVE_RUNNING_VMS',
    cj.call('pool.join', m.address, 'root', m.rootPassword),
  );
  dbOf(j).destroy('VM', vm);

  // A shared SR on the joiner.
  const sr = String(dbOf(j).create('SR', { name_label: 'shared', shared: true, type: 'nfs' }));
  await unchanged(
    'shared SR',
    'JOINING_HOST_CANNOT_CONTAIN_SHARED_SRS',
    cj.call('pool.join', m.address, 'root', m.rootPassword),
  );
  dbOf(j).destroy('SR', sr);

  // A master of other hosts cannot join another pool.
  const ck = await k.client();
  await ck.call('pool.join', j.address, 'root', j.rootPassword);
  await unchanged(
    'master of others',
    'JOINING_HOST_CANNOT_BE_MASTER_OF_OTHER_HOSTS',
    cj.call('pool.join', m.address, 'root', m.rootPassword),
  );

  // join_force skips the homogeneity check: a different vendor joins.
  const cm = await m.client();
  const mHost = m.manager!.svc.hostRef();
  dbOf(m).update('host', mHost, {
    cpu_info: { ...(dbOf(m).get('host', mHost)!.cpu_info as object), vendor: 'OtherVendor' },
  });
  // (k is a slave of j now; j cannot join. Use a fresh pair: m with k's former master j is busy.)
  await expectError(cm.call('pool.join', j.address, 'root', j.rootPassword), 'HOSTS_NOT_HOMOGENEOUS');
  await cm.call('pool.join_force', j.address, 'root', j.rootPassword);
  const jHosts = await (await j.client()).call('host.get_all');
  assert.equal(jHosts.length, 3);
});
