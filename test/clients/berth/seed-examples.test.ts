// Every example of the seed's README (oVirtCmd), in its `berth` form (docs/berth-cli.md, "Seed
// README examples and their berth equivalents"), run through the REAL CLI (a child process)
// against a real manager with a real in-process agent. The outputs are checked, not only the
// exit codes: XML documents are parsed by Python's xml.etree, counts and sizes read back.
// The updater plugin is scripted (the real one runs apt-get update/upgrade on this machine);
// bonding runs against a real agent in a private network namespace.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { NodedAgentClient } from '../../../src/manager/hosts/host-client.js';
import { kernelSupports, netns, vethInto } from '../../agent/network/netns.js';
import { type BerthResult, runBerth } from '../../helpers/berth-cli.js';
import { connectApi } from '../../helpers/berth-verb.js';
import { startManager, type TestManager } from '../../helpers/manager.js';
import { startNetworkAgent } from '../../helpers/network-agent.js';
import { startTestAgent } from '../../helpers/test-agent.js';
import { tempDir } from '../../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '../../..');
const SAMPLES = join(ROOT, 'samples/berth');
const MiB = 2 ** 20;
const GiB = 2 ** 30;

/** A real agent's client whose updater plugin answers from a script (no apt on this machine). */
class ScriptedUpdater extends NodedAgentClient {
  calls: string[] = [];
  updates: { name: string; version: string; release: string; arch: string }[] = [];
  override callPlugin(plugin: string, fn: string, args: Record<string, string>) {
    if (plugin !== 'updater') return super.callPlugin(plugin, fn, args);
    this.calls.push(fn);
    return Promise.resolve(fn === 'check_update' ? JSON.stringify({ result: this.updates }) : '');
  }
}

/**
 * The root elements of the XML documents in `text` (documents start at a line beginning with
 * `<` after a closing one), each parsed by Python's xml.etree: [tag, {child tag: text}].
 */
function parseXmlDocuments(docs: string[]): [string, Record<string, string>][] {
  const script = [
    'import json, sys, xml.etree.ElementTree as ET',
    'out = []',
    'for d in json.load(sys.stdin):',
    '    r = ET.fromstring(d)',
    '    out.append([r.tag, {c.tag: (c.text or "").strip() for c in r}])',
    'print(json.dumps(out))',
  ].join('\n');
  return JSON.parse(
    execFileSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify(docs) }).toString(),
  );
}

/** Splits export output into documents: each starts with a line at column 0 beginning with `<`. */
function splitDocuments(stdout: string): string[] {
  const docs: string[] = [];
  for (const line of stdout.split('\n')) {
    if (/^<[A-Za-z]/.test(line)) docs.push(line);
    else if (docs.length && line !== '' && !line.startsWith('#')) docs[docs.length - 1] += `\n${line}`;
  }
  return docs;
}

const ok = (r: BerthResult, what: string) => assert.equal(r.code, 0, `${what}: ${r.stderr}`);

async function setup(t: TestContext) {
  const dataDir = tempDir(t);
  const a = await startTestAgent(t, { stateRoot: dataDir });
  const agent = new ScriptedUpdater(a.socketPath);
  t.after(() => agent.close());
  const tm = await startManager(t, { dataDir, agent });
  const dir = tempDir(t, 'berth-seedex-');
  const ini = join(dir, 'berth.ini');
  writeFileSync(ini, `[api]\nurl = ${tm.httpUrl}\nusername = root\npassword = ${tm.rootPassword}\n`);
  const env = { BERTHCONFIG: ini };
  const berth = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
    runBerth(args, { env: { ...env, ...extra } });
  return { tm, dir, ini, env, berth, agent };
}

test('the seed README examples through the berth CLI', { timeout: 180_000 }, async (t) => {
  const { tm, dir, ini, berth, agent } = await setup(t);
  const api = await connectApi(tm.httpUrl, tm.rootPassword);
  t.after(() => api.client.logout().catch(() => {}));
  const [host] = await api.allRecords('host');
  const hostName = String(host.record.name_label);

  await t.test('ovcmd -h / ovcmd <noun> -h / -c before the noun, not after', async () => {
    const h = await berth(['-h']);
    ok(h, 'berth -h');
    assert.match(h.stdout, /nouns are:/);
    for (const noun of ['vm', 'host', 'pool', 'system', 'event'])
      assert.match(h.stdout, new RegExp(`\\b${noun}\\b`));
    const vh = await berth(['vm', '-h']);
    ok(vh, 'berth vm -h');
    assert.match(vh.stdout, /verbs are:/);
    for (const verb of ['create', 'start', 'stop', 'export', 'ticket', 'migrating', 'autoinstall'])
      assert.match(vh.stdout, new RegExp(`\\b${verb}\\b`));
    // `ovcmd -c file vm …` is not `ovcmd vm -c file …`: -c is a global option.
    const global = await runBerth(['-c', ini, 'host', 'list']);
    assert.deepEqual([global.code, global.stdout], [0, `${hostName} ${host.record.uuid}\n`]);
    const misplaced = await runBerth(['host', '-c', ini, 'list']);
    assert.deepEqual([misplaced.code, misplaced.stderr], [253, 'no such option: -c\n']);
  });

  let web01 = '';
  await t.test('ovcmd vm create -T vm_create.yaml -V memory 2G -V cores 4 …', async () => {
    const r = await berth([
      'vm',
      'create',
      '-n',
      'web01',
      '-T',
      join(SAMPLES, 'vm_create.yaml'),
      '-V',
      'memory',
      '2G',
      '-V',
      'cores',
      '4',
      '-V',
      'sr',
      'Local storage',
      '-V',
      'ostype',
      'rhel_7x64',
      '-V',
      'disksize',
      '64M',
    ]);
    ok(r, 'vm create');
    const m = /^vm ([0-9a-f-]{36}) web01\n$/.exec(r.stdout);
    assert.ok(m, r.stdout);
    web01 = m[1];
    const [rec] = JSON.parse((await berth(['-o', 'json', 'vm', '-n', 'web01', 'list'])).stdout);
    assert.equal(rec.uuid, web01);
    assert.equal(Number(rec.memory_static_max), 2 * GiB);
    assert.equal(Number(rec.memory_dynamic_max), 2 * GiB);
    assert.equal(Number(rec.VCPUs_max), 4);
    assert.equal(rec.other_config.ostype, 'rhel_7x64');
    const disks = JSON.parse((await berth(['-o', 'json', 'vm', '-n', 'web01', 'disks'])).stdout);
    assert.deepEqual(
      disks.map((d: Record<string, unknown>) => [d.name_label, Number(d.virtual_size)]),
      [['web01_sys', 64 * MiB]],
    );
    // A variable the template needs and nobody gave: the seed's message.
    const missing = await berth(['vm', 'create', '-n', 'x', '-T', join(SAMPLES, 'vm_create.yaml')]);
    assert.equal(missing.code, 251);
    assert.match(missing.stderr, /unknown variable 'sr' in template '\$\{sr\}'/);
  });

  await t.test('ovcmd host -n host_name export: one XML document of the host', async () => {
    const r = await berth(['host', '-n', hostName, 'export']);
    ok(r, 'host export');
    const docs = parseXmlDocuments(splitDocuments(r.stdout));
    assert.equal(docs.length, 1);
    const [tag, fields] = docs[0];
    assert.equal(tag, 'host');
    assert.equal(fields.name_label, hostName);
    assert.equal(fields.uuid, host.record.uuid);
  });

  await t.test('host upgradecheck, upgrade -r, upgrade -a (scripted updater plugin)', async () => {
    const none = await berth(['host', '-n', hostName, 'upgradecheck']);
    assert.deepEqual([none.code, none.stdout], [0, 'Nothing to do, up to date\n']);
    agent.updates = [{ name: 'bash', version: '5.2.15', release: '2+b13', arch: 'amd64' }];
    const check = await berth(['host', '-n', hostName, 'upgradecheck']);
    assert.deepEqual([check.code, check.stdout], [0, 'bash 5.2.15-2+b13 amd64\n']);
    // The seed's -r refreshes the status; Berth always checks afresh.
    const up = await berth(['host', '-n', hostName, 'upgrade', '-r']);
    assert.deepEqual([up.code, up.stdout], [0, 'Upgraded succeeded\n'], up.stderr);
    const maint = await berth(['host', '-n', hostName, 'export', 'enabled']);
    assert.equal(maint.stdout, 'false\n', 'left in maintenance, as oVirt');
    const async = await berth(['host', '-n', hostName, 'upgrade', '-a']);
    assert.deepEqual([async.code, async.stdout], [0, 'Upgrade in progress\n']);
    ok(await berth(['host', '-n', hostName, 'activate']), 'activate');
    assert.ok(agent.calls.includes('update'));
  });

  await t.test('ovcmd system export summary vms active: running VMs counted', async () => {
    // Only halted VMs so far.
    const none = await berth(['system', 'export', 'summary', 'vms', 'active']);
    assert.deepEqual([none.code, none.stdout, none.stderr], [0, '0\n', '']);
    // Two guests running on the host (power state and residence as the agent would report them;
    // no QEMU needed to count them).
    for (const name of ['run01', 'run02'])
      tm.manager.db.create('VM', {
        name_label: name,
        power_state: 'Running',
        resident_on: host.ref,
        is_a_template: false,
      });
    const two = await berth(['system', 'export', 'summary', 'vms', 'active']);
    assert.deepEqual([two.code, two.stdout], [0, '2\n']);
    const total = await berth(['system', 'export', 'summary', 'vms', 'total']);
    assert.equal(total.stdout, '3\n');
  });

  await t.test("ovcmd vm -s 'host=host01' export name: the names of the VMs on a host", async () => {
    const onHost = await berth(['host', '-n', hostName, 'export', 'resident_VMs', 'name']);
    ok(onHost, 'host export resident_VMs name');
    const names = onHost.stdout.trim().split('\n').sort();
    assert.deepEqual(
      names.filter((n) => n.startsWith('run')),
      ['run01', 'run02'],
    );
    assert.ok(!names.includes('web01'), 'a halted VM runs nowhere');
    // From the VMs' side: -s compares resident_on with the host's reference.
    const vms = await berth(['vm', '-s', `resident_on=${host.ref}`, 'export', 'name']);
    ok(vms, 'vm -s resident_on export name');
    assert.deepEqual(vms.stdout.trim().split('\n').sort(), ['run01', 'run02']);
  });

  await t.test('ovcmd eval script.py → berth eval -v … script.mjs (setup-pool.mjs)', async () => {
    const r = await berth(['eval', '-v', 'pool', 'cl_name', join(SAMPLES, 'setup-pool.mjs')]);
    ok(r, 'setup-pool');
    assert.match(r.stdout, /^pool renamed cl_name\nnetwork storage created [0-9a-f-]{36}\n$/);
    assert.match((await berth(['pool', 'list'])).stdout, /^cl_name [0-9a-f-]{36}\n$/);
    const mtu = await berth(['network', '-n', 'storage', 'export', 'MTU']);
    assert.deepEqual([mtu.code, mtu.stdout], [0, '9000\n']);
    // Get or create: a second run finds everything in place.
    // (with the README's -V spelling of the variable option)
    const again = await berth(['eval', '-V', 'pool', 'cl_name', join(SAMPLES, 'setup-pool.mjs')]);
    assert.deepEqual([again.code, again.stdout, again.stderr], [0, '', '']);
  });

  await t.test('the dump loops (cluster export, hosts export nics): dump.mjs', async () => {
    const r = await berth(['eval', join(SAMPLES, 'dump.mjs')]);
    ok(r, 'dump');
    assert.match(r.stdout, /^# pool cl_name$/m);
    assert.match(r.stdout, new RegExp(`^# host ${hostName}: \\d+ PIFs$`, 'm'));
    const docs = parseXmlDocuments(splitDocuments(r.stdout));
    assert.equal(docs[0][0], 'pool');
    assert.equal(docs[0][1].name_label, 'cl_name');
    const pifs = Number(/: (\d+) PIFs$/m.exec(r.stdout)?.[1]);
    assert.equal(docs.length, 1 + pifs);
    assert.ok(docs.slice(1).every(([tag]) => tag === 'PIF'));
  });

  await t.test('a bunch of VMs: create-vms.mjs with an environment file', async () => {
    const vmsYaml = join(dir, 'vms.yaml');
    writeFileSync(
      vmsYaml,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a placeholder of the YAML file
      'vms:\n  - {name: vm1, memory: 256M, cores: 2, disk: 16M}\n  - {name: vm2, memory: "${big:128M}", cores: 1, disk: 16M}\n',
    );
    const args = [
      'eval',
      '-e',
      vmsYaml,
      '-v',
      'big',
      '512M',
      '-v',
      'sr',
      'Local storage',
      join(SAMPLES, 'create-vms.mjs'),
    ];
    const r = await berth(args);
    ok(r, 'create-vms');
    assert.match(r.stdout, /^vm1 created [0-9a-f-]{36}\nvm2 created [0-9a-f-]{36}\n$/);
    const mem = await berth([
      'vm',
      '-s',
      'name_label~vm',
      'list',
      '-t',
      '{name} {memory_static_max} {VCPUs_max}',
    ]);
    assert.deepEqual(mem.stdout.trim().split('\n').sort(), [`vm1 ${256 * MiB} 2`, `vm2 ${512 * MiB} 1`]);
    const disk = await berth(['vm', '-n', 'vm2', 'export', 'VBDs', 'VDI', 'virtual_size']);
    assert.equal(disk.stdout, `${16 * MiB}\n`);
    // The sample skips the VMs that exist.
    const again = await berth(args);
    assert.deepEqual([again.code, again.stdout], [0, 'vm1 exists, skipped\nvm2 exists, skipped\n']);
  });

  await t.test(
    'the event_waiter sample: wait-start.mjs starts vm1 (QEMU, a blank disk); ticket',
    async () => {
      // The guest has nothing to boot: QEMU's firmware runs, which is all a power state needs.
      const r = await berth(['eval', '-v', 'timeout', '60', join(SAMPLES, 'wait-start.mjs'), 'vm1']);
      ok(r, 'wait-start');
      assert.match(r.stdout, /^vm\.mod [0-9a-f-]{36} vm1$/m, "the waiter's verbose line");
      assert.match(r.stdout, new RegExp(`^vm1 is Running on ${hostName}$`, 'm'));
      const ticket = await berth(['vm', '-n', 'vm1', 'ticket']);
      ok(ticket, 'ticket');
      assert.match(ticket.stdout, /^https?:\/\/\S+\/console\?ref=OpaqueRef:[0-9a-f-]+\n$/);
      ok(await berth(['vm', '-n', 'vm1', 'stop']), 'stop');
      assert.equal((await berth(['vm', '-n', 'vm1', 'export', 'power_state'])).stdout, 'Halted\n');
    },
  );

  await t.test('event_waiter: berth event wait for the disk events of a disk add', async () => {
    const sessions = () => tm.manager.svc.db.count('session');
    const before = sessions();
    const waiting = berth([
      'event',
      'wait',
      '-w',
      'vbd.add',
      '-w',
      'vdi.add',
      '-b',
      'task.status=failure',
      '-t',
      '60',
    ]);
    // The waiter is logged in; give it the moment to take its event position.
    for (let i = 0; i < 400 && sessions() <= before; i++) await new Promise((r) => setTimeout(r, 25));
    await new Promise((r) => setTimeout(r, 1500));
    ok(
      await berth(['vm', '-n', 'web01', 'disks', 'add', '--size', '16M', '--name', 'web01_data']),
      'disks add',
    );
    const w = await waiting;
    ok(w, 'event wait');
    assert.match(w.stdout, /^vdi\.add [0-9a-f-]{36} web01_data: vdi\.add$/m);
    assert.match(w.stdout, /^vbd\.add [0-9a-f-]{36}.*: vbd\.add$/m);
    // With nothing happening: the seed's timeout message.
    const timeout = await berth(['event', 'wait', '-w', 'vm.del', '-t', '1']);
    assert.equal(timeout.code, 251);
    assert.match(timeout.stderr, /Timeout will waiting for events\n {4}still waiting for: vm\.del/);
  });

  await t.test('vm verbs: migrating (none), ticket of a halted VM, autoinstall template errors', async () => {
    const mig = await berth(['vm', 'migrating']);
    assert.deepEqual([mig.code, mig.stdout], [0, '------\n']);
    const ticket = await berth(['vm', '-n', 'web01', 'ticket']);
    assert.equal(ticket.code, 251);
    assert.match(ticket.stderr, /No console available, not started/);
    const auto = await berth([
      'vm',
      '-n',
      'web01',
      'autoinstall',
      '-T',
      join(SAMPLES, 'pxekernel.yaml'),
      '-V',
      'osversion',
      '12',
    ]);
    assert.equal(auto.code, 251);
    assert.match(auto.stderr, /unknown variable 'hostname' in template/);
  });

  await t.test('no berth equivalent: capabilities, viewer, macpool, os', async () => {
    const caps = await berth(['capabilities', 'list']);
    assert.deepEqual([caps.code, caps.stderr], [253, 'unknown object: capabilities\n']);
    // What the manager speaks instead: its product and API version.
    const version = await berth(['system', 'export', 'product_info', 'api_version']);
    ok(version, 'system export product_info api_version');
    assert.match(version.stdout, /^\d+\.\d+\n$/);
    const viewer = await berth(['vm', '-n', 'web01', 'viewer']);
    assert.equal(viewer.code, 251);
    assert.match(viewer.stderr, /unknown verb viewer/);
    for (const noun of ['macpool', 'os']) {
      const r = await berth([noun, 'list']);
      assert.deepEqual([r.code, r.stderr], [253, `unknown object: ${noun}\n`]);
    }
  });
});

test('the seed README examples: host export nics and the bond example on real interfaces', {
  timeout: 120_000,
}, async (t) => {
  // The host's interfaces are eth0 and eth1, veths in a private namespace (the seed's names).
  const ns = await netns(t, 'seedex');
  const peer = await netns(t, 'seedexp');
  await vethInto(ns, 'eth0', peer, 'p0');
  await vethInto(ns, 'eth1', peer, 'p1');
  const { client } = await startNetworkAgent(t, { netns: ns, nicKinds: ['veth'] });
  const tm: TestManager = await startManager(t, { agent: client, networking: { defaultNetwork: false } });
  const api = await connectApi(tm.httpUrl, tm.rootPassword);
  t.after(() => api.client.logout().catch(() => {}));
  const [host] = await api.allRecords('host');
  for (let i = 0; i < 200 && !(await api.call('host_metrics.get_live', host.record.metrics)); i++)
    await new Promise((r) => setTimeout(r, 25));
  await api.call('PIF.scan', host.ref);
  const hostName = String(host.record.name_label);
  const dir = tempDir(t, 'berth-seedex-');
  const pw = join(dir, 'password');
  writeFileSync(pw, `${tm.rootPassword}\n`);
  const berth = (args: string[]) =>
    runBerth(['--url', tm.httpUrl, '-u', 'root', '--passwordfile', pw, ...args]);

  await t.test('ovcmd host -n host_name export nics → berth host -n h export pifs', async () => {
    const r = await berth(['host', '-n', hostName, 'export', 'pifs']);
    ok(r, 'host export pifs');
    const docs = parseXmlDocuments(splitDocuments(r.stdout));
    assert.deepEqual(docs.map(([tag, f]) => [tag, f.device]).sort(), [
      ['PIF', 'eth0'],
      ['PIF', 'eth1'],
    ]);
    const devices = await berth(['host', '-n', hostName, 'export', 'PIFs', 'device']);
    assert.deepEqual(devices.stdout.trim().split('\n').sort(), ['eth0', 'eth1']);
  });

  await t.test('ovcmd host -n newhost bond -i eth0 -i eth1 -o … -m 9000', async () => {
    const nets = async () => (await api.allRecords('network')).map((n) => n.record.name_label).sort();
    const before = await nets();
    const seed = ['-o', 'miimon', '100', '-o', 'mode', '4', '-m', '9000'];
    // The seed's exact options: layer2+3 has no XenAPI hashing algorithm.
    const literal = await berth([
      'host',
      '-n',
      hostName,
      'bond',
      '-i',
      'eth0',
      '-i',
      'eth1',
      ...seed,
      '-o',
      'xmit_hash_policy',
      'layer2+3',
    ]);
    assert.equal(literal.code, 253);
    assert.match(literal.stderr, /layer2\+3' has no XenAPI equivalent/);
    // berth's form (layer3+4 is XenAPI's tcpudp_ports).
    const r = await berth([
      'host',
      '-n',
      hostName,
      'bond',
      '-i',
      'eth0',
      '-i',
      'eth1',
      ...seed,
      '-o',
      'xmit_hash_policy',
      'layer3+4',
    ]);
    if (await kernelSupports(t, 'bond')) {
      assert.deepEqual([r.code, r.stdout], [0, 'success\n'], r.stderr);
      const [bond] = await api.allRecords('Bond');
      assert.equal(bond.record.mode, 'lacp');
      return;
    }
    // This kernel has no bonding driver: xapi's error, and the verb's network removed again.
    assert.equal(r.code, 251);
    assert.match(r.stderr, /^The action "host bond" failed with\n {4}INTERNAL_ERROR/);
    assert.deepEqual(await nets(), before);
  });
});
