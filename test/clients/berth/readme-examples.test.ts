// The README's `berth` block, run line by line through the real CLI against a real manager and
// agent over the manager's local socket (root, no configuration — as on a Berth host), so the
// first examples a new user tries cannot rot. Each line's effect is checked, not only its exit.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { connectApi } from '../../helpers/berth-verb.js';
import { runBerth } from '../../helpers/berth-cli.js';
import { startManager } from '../../helpers/manager.js';

const ROOT = join(import.meta.dirname, '../../..');

/** The shell words of one README line, split by bash itself (quotes as a user's shell reads them). */
function shellWords(line: string): string[] {
  const out = spawnSync('bash', ['-c', `set -- ${line}; printf '%s\\0' "$@"`], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  return out.stdout.split('\0').slice(0, -1);
}

function readmeBerthLines(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### The `berth` CLI'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  return block.split('\n').filter((l) => l.trim() !== '');
}

test('the README berth examples work as written', { timeout: 240_000 }, async (t) => {
  const lines = readmeBerthLines();
  assert.ok(lines.length >= 6, 'the README has a berth block');
  const m = await startManager(t);
  const api = await connectApi(m.httpUrl, m.rootPassword);
  t.after(() => api.client.close());
  // A VM left running by a failed step is stopped, so no QEMU outlives the test (the manager's
  // own after-hook runs first, so this cannot wait for one).
  const stopRunning = async () => {
    for (const vm of await api.allRecords('VM'))
      if (vm.record.power_state === 'Running') await api.call('VM.hard_shutdown', vm.ref).catch(() => {});
  };
  const env = { BERTH_XAPI_SOCKET: m.socketPath };
  const outputs: string[] = [];
  try {
    for (const line of lines) {
      if (line.startsWith('source <(')) {
        // The completion line: the script it sources must load in bash and define the completion.
        const r = await runBerth(['completion', 'bash'], { env });
        assert.equal(r.code, 0, r.stderr);
        const b = spawnSync('bash', ['-c', `${r.stdout}\ncomplete -p berth`], { encoding: 'utf8' });
        assert.equal(b.status, 0, b.stderr);
        assert.match(b.stdout, /berth/);
        continue;
      }
      const words = shellWords(line);
      assert.equal(words[0], 'berth', line);
      const r = await runBerth(words.slice(1), { env, timeoutMs: 120_000 });
      assert.equal(r.code, 0, `${line}\n${r.stderr}`);
      outputs.push(r.stdout);
    }
  } finally {
    await stopRunning();
  }
  const vms = async () =>
    (await api.allRecords('VM')).filter((v) => !v.record.is_a_template && !v.record.is_control_domain);
  const byName = async (n: string) => (await vms()).find((v) => v.record.name_label === n);
  const web01 = await byName('web01');
  assert.ok(web01, 'web01 was created');
  assert.equal(Number(web01.record.memory_static_max), 512 * 2 ** 20);
  assert.equal(web01.record.power_state, 'Halted', 'started, then stopped');
  // The JSON export while it ran named it.
  const exported = outputs.find((o) => o.includes('"web01"'));
  assert.ok(exported, `an export named web01: ${outputs.join('\n---\n')}`);
  const web02 = await byName('web02');
  assert.ok(web02, 'web02 was created from the YAML template');
  assert.equal(Number(web02.record.VCPUs_max), 2);
});
