// `berth eval`: argument rules, variables and environments, the connected context (collections,
// objects, messages, sub-collections, waitFor), the connection always closed, script failures,
// and the shipped samples against a real manager.
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: YAML templates' ${name} placeholders
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Api } from '../../../src/clients/berth/api.js';
import { collectionNames, EvalContext, snakeCase } from '../../../src/clients/berth/eval/context.js';
import { scriptVariables } from '../../../src/clients/berth/eval/environment.js';
import { parseEvalArgs, runEval } from '../../../src/clients/berth/eval/run.js';
import { CliError } from '../../../src/clients/berth/errors.js';
import { XenApiClient } from '../../../src/clients/sdk/client.js';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { captureOutput, connectApi } from '../../helpers/berth-verb.js';
import { NOUNS } from '../../../src/clients/berth/nouns/index.js';
import { startManager } from '../../helpers/manager.js';
import { tempDir } from '../../helpers/tmp.js';

const SAMPLES = join(import.meta.dirname, '../../../samples/berth');
const usage = (message: string) => (e: unknown) =>
  e instanceof CliError && e.exitCode === 253 && e.message === message;

test('eval arguments: -v pairs, -e files, the script and its own arguments', () => {
  assert.deepEqual(
    parseEvalArgs(['-v', 'a', '1', '--variable', 'b', '2', '-e', 'x.yaml', 's.mjs', '-v', 'z']),
    {
      variables: { a: '1', b: '2' },
      environments: ['x.yaml'],
      script: 's.mjs',
      args: ['-v', 'z'],
    },
  );
  assert.throws(() => parseEvalArgs([]), usage('no script to evaluate'));
  assert.equal(parseEvalArgs(['-v', 'a', '1', '-h', 'x.mjs']).help, true);
  assert.throws(() => parseEvalArgs(['-v', 'a', '1']), usage('no script to evaluate'));
  assert.throws(() => parseEvalArgs(['-v', 'a']), usage('-v option requires 2 arguments'));
  assert.throws(() => parseEvalArgs(['-e']), usage('-e option requires an argument'));
  assert.throws(() => parseEvalArgs(['-x', 's.mjs']), usage('no such option: -x'));
});

test('variables: environments are templates over the variables so far; -v wins', async (t) => {
  const dir = tempDir(t);
  const a = join(dir, 'a.yaml');
  const b = join(dir, 'b.yaml');
  writeFileSync(a, 'cluster: c-${site}\ncores: 4\nsite: from-a\nopts: "${options:}"\nlist: ["${site}"]\n');
  writeFileSync(b, 'sr: ${cluster}-sr\ncores: 8\n');
  const vars = await scriptVariables({ site: 'paris', cores: '2' }, [a, b]);
  assert.deepEqual(vars, {
    site: 'paris',
    cores: '2',
    cluster: 'c-paris',
    opts: '',
    list: ['paris'],
    sr: 'c-paris-sr',
  });
  writeFileSync(b, 'flag: true\nx: x ${nope}\n');
  await assert.rejects(
    scriptVariables({}, [b]),
    (e: unknown) =>
      e instanceof CliError &&
      e.exitCode === 251 &&
      e.message === "unknown variable 'nope' in template 'x ${nope}'",
  );
  writeFileSync(b, 'flag: true\nn: 3\nsite: ${site}\n');
  assert.deepEqual(
    await scriptVariables({ site: 'x' }, [b]),
    { flag: true, n: 3, site: 'x' },
    'non-strings kept',
  );
  writeFileSync(b, 'a: [1\n');
  await assert.rejects(
    scriptVariables({}, [b]),
    (e: unknown) =>
      e instanceof CliError &&
      e.exitCode === 253 &&
      /^invalid YAML template .*b\.yaml:\d+:\d+: Flow sequence/.test(e.message),
  );
  await assert.rejects(
    scriptVariables({}, [join(dir, 'none.yaml')]),
    usage(`environment file not found: ${join(dir, 'none.yaml')}`),
  );
});

test('names: camelCase messages and collection names', () => {
  assert.equal(snakeCase('cleanShutdown'), 'clean_shutdown');
  assert.equal(snakeCase('setVCPUsMax'), 'set_VCPUs_max');
  assert.equal(snakeCase('getPIFs'), 'get_PIFs');
  assert.equal(snakeCase('setIsATemplate'), 'set_is_a_template');
  assert.equal(snakeCase('setHVMBootPolicy'), 'set_HVM_boot_policy');
  assert.equal(snakeCase('setVCPUsAtStartup'), 'set_VCPUs_at_startup');
  assert.equal(snakeCase('getSR'), 'get_SR');
  assert.equal(snakeCase('set_name_label'), 'set_name_label');
  assert.deepEqual(
    collectionNames({ name: 'vdi', aliases: ['disk'], summary: '', listColumns: [], verbs: [] }),
    ['vdis', 'disks'],
  );
  assert.deepEqual(collectionNames({ name: 'storage-resource', summary: '', listColumns: [], verbs: [] }), [
    'storageResources',
  ]);
});

async function setup(t: Parameters<typeof startManager>[0]) {
  const m = await startManager(t);
  const sessions: string[] = [];
  const connect = async (): Promise<Api> => {
    const api = await connectApi(m.httpUrl, m.rootPassword);
    sessions.push(api.client.sessionRef as string);
    return api;
  };
  const admin = await connectApi(m.httpUrl, m.rootPassword);
  t.after(() => admin.client.close());
  const dir = tempDir(t);
  const script = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  /** Is the session a run used closed? (a call with it is refused) */
  const closed = async (session: string) => {
    const c = new XenApiClient({ url: m.httpUrl });
    try {
      await c.raw('VM.get_all', [session]);
      return false;
    } catch (e) {
      return (e as { code?: string }).code === 'SESSION_INVALID';
    } finally {
      c.close();
    }
  };
  const run = async (argv: string[]) => {
    const out = captureOutput();
    const code = await runEval(connect, out, argv, NOUNS);
    return { code, lines: out.lines };
  };
  return { m, admin, connect, sessions, script, closed, run, dir };
}

test('the context: collections per noun, objects with fields, messages and sub-collections', async (t) => {
  const s = await setup(t);
  const vm = (await s.admin.call('VM.create', baseVmRecord({ name_label: 'ctx-a' }))) as string;
  await s.admin.call('VM.create', baseVmRecord({ name_label: 'twin' }));
  await s.admin.call('VM.create', baseVmRecord({ name_label: 'twin' }));
  const path = s.script(
    'ctx.mjs',
    `export default async function ({ context, NotFoundError, print, variables, args }) {
      const a = await context.vms.get('ctx-a');
      print(['name', a.name, a.name_label, a.powerState, a.ref === '${vm}'].join(' '));
      print(a);
      print({ k: [1] });
      print('same ' + ((await context.vms.get(a)) === a) + ' ' + (await context.vms.get(a.uuid)).ref + ' ' + (await context.vms.get({ search: 'name_label=ctx-a' })).uuid);
      for (const bad of ['nope', { name: 'twin' }]) {
        try { await context.vms.get(bad); } catch (e) { print((e instanceof NotFoundError ? 'notfound ' : 'other ') + e.exitCode + ' ' + e.message); }
      }
      await a.setNameDescription('described');
      print('field ' + a.name_description);
      print('vbds ' + a.VBDs.refs.length + ' ' + (await a.VBDs.list()).length);
      print('templates ' + ((await context.templates.list()).length > 0) + ' vms ' + (await context.vms.list()).length);
      print('host ' + (await a.follow('affinity').catch((e) => e.constructor.name)));
      const [pool] = await context.clusters.list();
      print('pool ' + (await pool.follow('master')).name);
      print('vars ' + JSON.stringify(variables) + ' ' + JSON.stringify(args));
      try { await a.no_such_message(); } catch (e) { print('xapi ' + e.code); }
      return 7;
    }`,
  );
  const r = await s.run(['-v', 'k', 'v', path, 'x', '-y']);
  assert.equal(r.code, 7, 'a number the script returns is the exit code');
  const [hostName] = Object.values(
    (await s.admin.call('host.get_all_records')) as Record<string, { name_label: string }>,
  ).map((h) => h.name_label);
  const uuid = (await s.admin.call('VM.get_uuid', vm)) as string;
  assert.deepEqual(r.lines, [
    'name ctx-a ctx-a Halted true',
    `VM ${uuid} ctx-a`,
    '{\n  "k": [\n    1\n  ]\n}',
    `same true ${vm} ${uuid}`,
    "notfound 252 no object found matching the search {'name': 'nope'}",
    "other 251 Too many objects found matching the search {'name': 'twin'}",
    'field described',
    'vbds 0 0',
    'templates true vms 3',
    'host NotFoundError',
    `pool ${hostName}`,
    'vars {"k":"v"} ["x","-y"]',
    'xapi MESSAGE_METHOD_UNKNOWN',
  ]);
  assert.equal(await s.closed(s.sessions[0]), true, 'logged out after the script');
});

test('add, async add with wait(), waitFor, export; built from any noun list', async (t) => {
  const s = await setup(t);
  const api = await s.connect();
  t.after(() => api.client.close());
  const ctx = new EvalContext(api, NOUNS, captureOutput());
  assert.ok(ctx.vms && ctx.hosts && ctx.disks && ctx.nics && ctx.jobs && ctx.storagedomains && ctx.messages);
  assert.equal(ctx.parseSize('2G'), 2 ** 31);
  assert.equal(ctx.vdis, ctx.disks, 'an alias is the same collection');
  const made = await ctx.vms.add(baseVmRecord({ name_label: 'added' }));
  assert.equal(made.name, 'added');
  const future = await ctx.vms.add(baseVmRecord({ name_label: 'added-async' }), { wait: false });
  assert.match(future.task, /^OpaqueRef:/);
  const later = await future.wait({ timeoutMs: 20_000 });
  assert.equal(later.name_label, 'added-async');
  await assert.rejects(
    (await ctx.vms.add({ name_label: 'incomplete' }, { wait: false })).wait({ timeoutMs: 20_000 }),
    (e: unknown) => (e as { code?: string }).code !== undefined,
    'a failed task throws its XenAPI error',
  );
  // waitFor a predicate: met when another client renames the VM.
  const waiting = made.waitFor((o: { name_description: string }) => o.name_description === 'renamed', {
    timeoutMs: 20_000,
  });
  await s.admin.call('VM.set_name_description', made.ref, 'renamed');
  assert.equal((await waiting).name_description, 'renamed');
  await assert.rejects(
    made.waitFor('Running', { timeoutMs: 300 }),
    /Timeout waiting for VM .* to be Running/,
  );
  const dump = await made.export();
  assert.ok(dump.join('\n').includes(made.uuid), 'export prints the object');
  // A noun list of its own: only its collections.
  const small = new EvalContext(
    api,
    [{ name: 'vm', xapiClass: 'VM', summary: '', listColumns: [], verbs: [] }],
    captureOutput(),
  );
  assert.deepEqual(Object.keys(small.collections), ['vms']);
});

test('failures: a throwing script exits 251 with its message; the connection is closed', async (t) => {
  const s = await setup(t);
  const path = s.script(
    'throws.mjs',
    'export default async function () {\n  throw new Error("boom here");\n}\n',
  );
  await assert.rejects(s.run([path]), (e: unknown) => {
    assert.ok(e instanceof CliError);
    assert.equal(e.exitCode, 251);
    assert.equal(e.message, 'boom here');
    assert.match(String(e.stack), /throws\.mjs:2/, 'the stack (for --debug) is the script own');
    return true;
  });
  assert.equal(await s.closed(s.sessions[0]), true);
  const xapi = s.script(
    'xapi.mjs',
    'export default async function ({ context }) { await context.api.call("VM.get_record", "OpaqueRef:nope"); }',
  );
  await assert.rejects(
    s.run([xapi]),
    (e: unknown) => e instanceof CliError && e.exitCode === 251 && /^HANDLE_INVALID/.test(e.message),
  );
  const nf = s.script(
    'nf.mjs',
    'export default async function ({ context }) { await context.vms.get("missing"); }',
  );
  await assert.rejects(s.run([nf]), (e: unknown) => e instanceof CliError && e.exitCode === 252);
  assert.equal(s.sessions.length, 3);
  for (const session of s.sessions) assert.equal(await s.closed(session), true);
  // Usage errors and -h come before connecting.
  const help = await s.run(['-h']);
  assert.equal(help.code, 0);
  assert.match(help.lines[0], /^usage: berth \[options\] eval /);
  await assert.rejects(
    s.run([join(s.dir, 'absent.mjs')]),
    usage(`script not found: ${join(s.dir, 'absent.mjs')}`),
  );
  const noDefault = s.script('nodefault.mjs', 'export const x = 1;\n');
  await assert.rejects(s.run([noDefault]), (e: unknown) => e instanceof CliError && e.exitCode === 253);
  const syntax = s.script('syntax.mjs', 'export default async function ( {\n');
  await assert.rejects(
    s.run([syntax]),
    (e: unknown) => e instanceof CliError && /^cannot load script/.test(e.message),
  );
  assert.equal(s.sessions.length, 3, 'no connection for a script that cannot run');
});

test('samples: create-vms (idempotent), setup-pool and dump', async (t) => {
  const s = await setup(t);
  const env = join(s.dir, 'vms.yaml');
  writeFileSync(
    env,
    'vms:\n  - {name: s1, memory: "${mem}", cores: 2, disk: 64M}\n  - {name: s2, memory: 1G, cores: 1, disk: 32M}\n',
  );
  const first = await s.run(['-e', env, '-v', 'mem', '512M', join(SAMPLES, 'create-vms.mjs')]);
  assert.equal(first.code, 0);
  assert.equal(first.lines.length, 2);
  assert.match(first.lines[0], /^s1 created [0-9a-f-]{36}$/);
  const vms = Object.values(
    (await s.admin.call('VM.get_all_records')) as Record<string, Record<string, unknown>>,
  );
  const s1 = vms.find((v) => v.name_label === 's1') as Record<string, unknown>;
  assert.equal(s1.is_a_template, false);
  assert.equal(Number(s1.memory_static_max), 512 * 2 ** 20);
  assert.equal(Number(s1.VCPUs_max), 2);
  const vbds = s1.VBDs as string[];
  const vdis = await Promise.all(
    vbds.map(
      async (b) =>
        s.admin.call('VDI.get_record', await s.admin.call('VBD.get_VDI', b)) as Promise<
          Record<string, unknown>
        >,
    ),
  );
  const sys = vdis.find((d) => d.name_label === 's1_sys');
  assert.equal(Number(sys?.virtual_size), 64 * 2 ** 20);
  const again = await s.run(['-e', env, '-v', 'mem', '512M', join(SAMPLES, 'create-vms.mjs')]);
  assert.deepEqual(again.lines, ['s1 exists, skipped', 's2 exists, skipped']);

  const setupPool = await s.run(['-v', 'pool', 'cl_name', join(SAMPLES, 'setup-pool.mjs')]);
  assert.equal(setupPool.lines[0], 'pool renamed cl_name');
  assert.match(setupPool.lines[1], /^network storage created [0-9a-f-]{36}$/);
  const nets = Object.values(
    (await s.admin.call('network.get_all_records')) as Record<string, Record<string, unknown>>,
  );
  assert.equal(Number(nets.find((n) => n.name_label === 'storage')?.MTU), 9000);
  const [storage] = (await s.admin.call('network.get_by_name_label', 'storage')) as string[];
  await s.admin.call('network.set_MTU', storage, 1500);
  const rerun = await s.run(['-v', 'pool', 'cl_name', join(SAMPLES, 'setup-pool.mjs')]);
  assert.deepEqual(rerun.lines, ['network storage MTU 9000'], 'only what differs is changed');

  const dump = await s.run([join(SAMPLES, 'dump.mjs')]);
  const [pool] = Object.values(
    (await s.admin.call('pool.get_all_records')) as Record<string, { uuid: string }>,
  );
  const hosts = Object.values(
    (await s.admin.call('host.get_all_records')) as Record<string, { name_label: string; PIFs: string[] }>,
  );
  const text = dump.lines.join('\n');
  assert.ok(text.includes(pool.uuid), 'the pool dumped');
  for (const h of hosts) assert.ok(dump.lines.includes(`# host ${h.name_label}: ${h.PIFs.length} PIFs`));
});
