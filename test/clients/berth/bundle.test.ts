// The `berth` users run is the esbuild bundle `npm run build` writes (dist/berth/, package.json
// bin, berth-up.sh), not the tsc tree: built here with the same command, it must behave as the
// sources do — help of every noun identical, lazy chunks (help, templates, eval) reachable, a
// listing from a real manager.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { NOUNS } from '../../../src/clients/berth/nouns/index.js';
import { runBerth } from '../../helpers/berth-cli.js';
import { startManager } from '../../helpers/manager.js';
import { tempDir } from '../../helpers/tmp.js';

const ROOT = join(import.meta.dirname, '../../..');

/** package.json's bundle:berth command, with the output folder moved into `outdir`. */
function bundleArgs(outdir: string): string[] {
  const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts as Record<
    string,
    string
  >;
  const cmd = scripts['bundle:berth'].split('&& ').pop() ?? '';
  const words = cmd.trim().split(/\s+/);
  assert.equal(words[0], 'esbuild');
  return words.slice(1).map((w) => (w.startsWith('--outdir=') ? `--outdir=${outdir}` : w));
}

test('the bundled berth answers as the sources do', { timeout: 120_000 }, async (t) => {
  const dir = tempDir(t);
  // The bundle keeps packages external: they resolve from the repository's node_modules.
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  const out = join(dir, 'berth');
  const b = spawnSync(join(ROOT, 'node_modules/.bin/esbuild'), bundleArgs(out), {
    cwd: ROOT,
    encoding: 'utf8',
  });
  assert.equal(b.status, 0, b.stderr);
  // Spawned asynchronously (runBerth): the manager below answers from this very process.
  const bundled = async (args: string[]) => {
    const r = await runBerth(args, { entry: join(out, 'main.js') });
    return { status: r.code, stdout: r.stdout, stderr: r.stderr };
  };
  for (const args of [
    ['-h'],
    ...NOUNS.map((n) => [n.name, '-h']),
    ['vm', 'create', '-h'],
    ['completion', 'bash'],
  ]) {
    const want = await runBerth(args);
    const got = await bundled(args);
    assert.equal(got.status, want.code, `${args.join(' ')}: ${got.stderr}`);
    assert.equal(got.stdout, want.stdout, args.join(' '));
  }
  // Lazy chunks: a template error (template.ts) and an eval usage error (eval/run.ts).
  const tpl = join(dir, 'bad.yaml');
  writeFileSync(tpl, 'memory: [1, 2\n');
  const m = await startManager(t);
  const pw = join(dir, 'pw');
  writeFileSync(pw, m.rootPassword);
  const login = ['--url', m.httpUrl, '-u', 'root', '--passwordfile', pw];
  const tplRun = await bundled([...login, 'vm', 'create', '-n', 'x', '-T', tpl]);
  assert.equal(tplRun.status, 253, tplRun.stderr);
  assert.match(tplRun.stderr, /invalid YAML template .*bad\.yaml:\d+:\d+/);
  // A listing through the bundle's connection code, over HTTP to a real manager.
  const list = await bundled([...login, '-o', 'json', 'template', 'list']);
  assert.equal(list.status, 0, list.stderr);
  assert.ok(JSON.parse(list.stdout).length > 0, 'templates listed');
  const evalRun = await bundled(['eval']);
  assert.equal(evalRun.status, 253);
  assert.match(evalRun.stderr, /no script to evaluate/);
});
