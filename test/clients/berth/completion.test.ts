// Shell completion: the pure walk over the declarations (nouns, verbs, options at each level,
// formats after -o, names after -n), and the bash and zsh scripts run by the real shells
// against the real CLI.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { completeWords, completionScript } from '../../../src/clients/berth/completion.js';
import { runBerth } from '../../helpers/berth-cli.js';
import { tempDir } from '../../helpers/tmp.js';
import { TEST_HOST, TEST_NOUNS, TEST_VM } from './fixtures.js';

const words = (w: string[]) => {
  const c = completeWords(w, TEST_NOUNS);
  return 'words' in c ? c.words : c;
};

describe('completeWords', () => {
  it('offers global options, nouns, eval and completion first', () => {
    const w = words([]) as string[];
    for (const x of [
      '-c',
      '--config',
      '--user',
      '--username',
      '-o',
      'testvm',
      'testhost',
      'eval',
      'completion',
    ])
      assert.ok(w.includes(x), x);
    assert.deepEqual(words(['-d', '-c', 'f.ini']), w);
  });
  it('offers the formats after -o, files after -c', () => {
    assert.deepEqual(words(['-o']), ['table', 'json', 'yaml', 'xml', 'text']);
    assert.deepEqual(words(['-c']), []);
    assert.deepEqual(words(['completion']), ['bash', 'zsh']);
  });
  it("offers a noun's options and verbs, then a verb's options", () => {
    const n = words(['testvm']) as string[];
    assert.ok(n.includes('-s') && n.includes('list') && n.includes('show') && !n.includes('-c'));
    assert.deepEqual(words(['tvm', '-s', 'x=1']), n);
    assert.ok((words(['testhost']) as string[]).includes('--from'));
    assert.deepEqual(words(['testvm', '-n', 'a', 'show']), [
      '-h',
      '--help',
      '-x',
      '--extra',
      '--size',
      '-f',
      '--force',
    ]);
    assert.deepEqual(words(['testvm', 'show', '-x']), []);
    assert.deepEqual(words(['testvm', 'frob']), []);
  });
  it('asks for object names after -n and uuids after -i', () => {
    assert.deepEqual(words(['testvm', '-n']), { objects: TEST_VM, field: 'name_label' });
    assert.deepEqual(words(['testhost', '-n']), { objects: TEST_HOST, field: 'hostname' });
    assert.deepEqual(words(['testvm', '-i']), { objects: TEST_VM, field: 'uuid' });
  });
});

describe('completion scripts', () => {
  it('refuses other shells', () => {
    assert.throws(() => completionScript('fish'), /unknown shell fish/);
  });
  it('completes through bash with the real CLI', async (t) => {
    const dir = tempDir(t);
    const script = (await runBerth(['completion', 'bash'])).stdout;
    writeFileSync(join(dir, 'berth.bash'), script);
    // `berth` on the PATH: the sources through tsx, no configuration.
    const shim = join(dir, 'berth');
    writeFileSync(
      shim,
      `#!/bin/sh\nexec ${process.execPath} --import ${import.meta.resolve('tsx')} ${join(import.meta.dirname, '../../../src/clients/berth/main.ts')} "$@"\n`,
      { mode: 0o755 },
    );
    const complete = (line: string[]) =>
      execFileSync(
        'bash',
        [
          '-c',
          `source ${dir}/berth.bash; COMP_WORDS=(${line.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${line.length - 1}; _berth; printf '%s\\n' "\${COMPREPLY[@]}"`,
        ],
        {
          encoding: 'utf8',
          env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, HOME: '/nonexistent' },
          cwd: dir,
        },
      )
        .split('\n')
        .filter(Boolean);
    assert.deepEqual(complete(['berth', '--pa']), ['--passwordfile']);
    assert.deepEqual(complete(['berth', 'comp']), ['completion']);
    assert.deepEqual(complete(['berth', 'completion', '']), ['bash', 'zsh']);
    assert.deepEqual(complete(['berth', '-o', 'y']), ['yaml']);
    assert.deepEqual(
      complete(['berth', '-c', 'berth.b']),
      ['berth.bash'],
      'file names where a file is expected',
    );
  });
  it('completes through zsh with the real CLI', {
    skip: !existsSync('/usr/bin/zsh') && 'no zsh',
  }, async () => {
    const script = (await runBerth(['completion', 'zsh'])).stdout;
    assert.match(script, /^#compdef berth\n/);
    execFileSync('/usr/bin/zsh', ['-n', '-c', script]);
  });
});
