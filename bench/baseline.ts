// An earlier revision of Berth, built next to the working tree, so a benchmark can measure the
// old and the new code in the same run (same machine, same load, interleaved). BENCH_BASELINE
// names the revision (default: the commit before the issue-12 performance work; `none` skips
// it). The tree is exported with `git archive` into the temp directory (kept between runs, keyed
// by commit), shares this checkout's node_modules, and is built with its own generator and tsc.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The last commit before the issue-12 performance changes. */
export const DEFAULT_BASELINE = '5fe7d2832914758ecc5d374c964dd9b0e8559de0';

export interface Baseline {
  rev: string;
  /** Root of the built tree (dist/ compiled, generated datamodel present). */
  root: string;
}

function sh(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout.trim();
}

/** Builds (or reuses) the baseline tree; undefined when BENCH_BASELINE=none. */
export function prepareBaseline(root: string): Baseline | undefined {
  const wanted = process.env.BENCH_BASELINE ?? DEFAULT_BASELINE;
  if (wanted === 'none' || wanted === '') return undefined;
  const rev = sh('git', ['rev-parse', '--verify', `${wanted}^{commit}`], root);
  const dir = join(tmpdir(), `berth-bench-baseline-${rev.slice(0, 12)}`);
  const done = join(dir, '.built');
  if (!existsSync(done)) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    console.log(`building baseline ${rev.slice(0, 12)} in ${dir} …`);
    const tar = spawnSync('git', ['archive', '--format=tar', rev], { cwd: root, maxBuffer: 1 << 30 });
    if (tar.status !== 0) throw new Error(`git archive ${rev}: ${tar.stderr}`);
    const x = spawnSync('tar', ['-x', '-C', dir], { input: tar.stdout });
    if (x.status !== 0) throw new Error(`tar: ${x.stderr}`);
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    sh(process.execPath, ['--import', 'tsx', 'tools/generate-datamodel.ts'], dir);
    sh(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', '.'], dir);
    writeFileSync(done, `${rev}\n`);
  }
  return { rev, root: dir };
}
