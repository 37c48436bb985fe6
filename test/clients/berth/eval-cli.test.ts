// `berth eval` and `berth event` through the real CLI (a child process), against a real manager.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runBerth } from '../../helpers/berth-cli.js';
import { startManager } from '../../helpers/manager.js';
import { tempDir } from '../../helpers/tmp.js';

const SAMPLES = join(import.meta.dirname, '../../../samples/berth');

test('berth eval and berth event through the CLI', async (t) => {
  const tm = await startManager(t);
  const dir = tempDir(t);
  writeFileSync(
    join(dir, 'berth.ini'),
    `[api]\nurl = ${tm.httpUrl}\nusername = root\npassword = ${tm.rootPassword}\n`,
  );
  const env = { BERTHCONFIG: join(dir, 'berth.ini') };
  const ok = join(dir, 'ok.mjs');
  writeFileSync(
    ok,
    'export default async function ({ context, args, print }) { print((await context.hosts.list()).length + " " + args.join(",")); return 3; }\n',
  );
  const r = await runBerth(['eval', '-v', 'a', 'b', ok, 'x', 'y'], { env });
  assert.deepEqual([r.code, r.stdout, r.stderr], [3, '1 x,y\n', '']);
  const missing = await runBerth(['eval'], { env });
  assert.deepEqual([missing.code, missing.stderr], [253, 'no script to evaluate\n']);
  const bad = join(dir, 'bad.mjs');
  writeFileSync(bad, 'export default async function () {\n  throw new Error("boom");\n}\n');
  const b = await runBerth(['eval', bad], { env });
  assert.deepEqual([b.code, b.stderr], [251, 'boom\n']);
  const d = await runBerth(['-d', 'eval', bad], { env });
  assert.match(d.stderr, /bad\.mjs:2/);
  const nf = join(dir, 'nf.mjs');
  writeFileSync(nf, 'export default async function ({ context }) { await context.vms.get("nope"); }\n');
  const n = await runBerth(['eval', nf], { env });
  assert.deepEqual([n.code, n.stderr], [252, "no object found matching the search {'name': 'nope'}\n"]);
  const w = await runBerth(['event', 'wait', '-w', 'vm.del', '-t', '1'], { env });
  assert.deepEqual(
    [w.code, w.stderr],
    [
      251,
      'The action "event wait" failed with\n    Timeout will waiting for events\n    still waiting for: vm.del\n',
    ],
  );
  const l = await runBerth(['event', 'list', '-c', 'vm', '-t', '0'], { env });
  assert.equal(l.code, 0, l.stderr);
  assert.match(l.stdout, /^token \d+,\d+\n$/);
  // The samples through the CLI.
  const vmsYaml = join(dir, 'vms.yaml');
  writeFileSync(vmsYaml, 'vms:\n  - {name: c1, memory: 256M, cores: 1, disk: 16M}\n');
  const c = await runBerth(['eval', '-e', vmsYaml, join(SAMPLES, 'create-vms.mjs')], { env });
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /^c1 created [0-9a-f-]{36}\n$/);
  const dump = await runBerth(['eval', join(SAMPLES, 'dump.mjs')], { env });
  assert.equal(dump.code, 0, dump.stderr);
  const pools = (await fetchPools(tm.httpUrl, tm.rootPassword)) as Record<string, { uuid: string }>;
  for (const p of Object.values(pools)) assert.ok(dump.stdout.includes(p.uuid), 'the pool exported');
  assert.match(dump.stdout, /^# pool /m);
  assert.match(dump.stdout, /^# host .*: \d+ PIFs$/m);
});

async function fetchPools(url: string, password: string): Promise<unknown> {
  const rpc = async (method: string, params: unknown[]) => {
    const res = await fetch(`${url}/jsonrpc`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    });
    return ((await res.json()) as { result: unknown }).result;
  };
  const session = await rpc('session.login_with_password', ['root', password, '2.21', 'test']);
  return rpc('pool.get_all_records', [session]);
}
