// restricted_command (Ganeti's RunRestrictedCmd): only root-owned, non-writable-by-others files of
// a root-owned directory run; every refusal is the same generic message after the fail delay.
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { TimedLock } from '../../../src/agent/host-ops/lock.js';
import { RestrictedCommands, restrictedCommandProblem } from '../../../src/agent/host-ops/restricted.js';
import { tempDir } from '../../helpers/tmp.js';
import { errorOf, testConfig } from './config.js';

function setup(t: import('node:test').TestContext) {
  const dir = tempDir(t, 'berth-hostops-rc-');
  const rc = join(dir, 'restricted');
  mkdirSync(rc, { mode: 0o755 });
  chmodSync(rc, 0o755);
  const script = (name: string, body: string, mode = 0o755) => {
    writeFileSync(join(rc, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(rc, name), mode);
  };
  return { dir, rc, script, cfg: testConfig(dir) };
}

test('a listed command runs with no arguments and an empty environment', async (t) => {
  const { cfg, script } = setup(t);
  script('show-env', 'echo "args=$# env=$(tr -d "\\n" < /proc/$$/environ | wc -c)"; echo err >&2');
  const out = await new RestrictedCommands(cfg).run('show-env');
  assert.equal(out, 'args=0 env=0\nerr\n');
});

test('a failing command reports its status and output', async (t) => {
  const { cfg, script } = setup(t);
  script('fails', 'echo broken; exit 3');
  await assert.rejects(new RestrictedCommands(cfg).run('fails'), (e) => {
    assert.deepEqual(errorOf(e), [
      'NODE_PROCEDURE_FAILED',
      'restricted_command',
      "Restricted command 'fails' failed: exited with status 3; output: broken\n",
    ]);
    return true;
  });
});

test('a command that outlives its time limit is killed and reported', async (t) => {
  const { dir, script } = setup(t);
  script('hangs', 'sleep 30');
  const cfg = testConfig(dir, { restrictedCommandTimeoutSec: 0.3 });
  const started = Date.now();
  await assert.rejects(new RestrictedCommands(cfg).run('hangs'), /timed out after 0.3 s/);
  assert.ok(Date.now() - started < 5000);
});

test('hostile names are refused with the generic message, after the fail delay', async (t) => {
  const { cfg, script, dir } = setup(t);
  script('ok', 'echo ran');
  writeFileSync(join(dir, 'outside'), '#!/bin/sh\necho escaped\n', { mode: 0o755 });
  for (const name of [
    '',
    ' ',
    '../outside',
    '/bin/sh',
    'ok;id',
    'ok$(id)',
    'ok\nid',
    'a/b',
    '..',
    '.',
    'ok ',
    'ok`id`',
  ]) {
    assert.notEqual(restrictedCommandProblem(cfg.restrictedCommandsDir, name), null, JSON.stringify(name));
    const started = Date.now();
    await assert.rejects(new RestrictedCommands(cfg).run(name), (e) => {
      assert.deepEqual(errorOf(e), [
        'NODE_PROCEDURE_FAILED',
        'restricted_command',
        `Executing command '${name}' failed`,
      ]);
      return true;
    });
    assert.ok(Date.now() - started >= 45, 'the refusal waits the fail delay');
  }
  await assert.rejects(new RestrictedCommands(cfg).run(42), /Executing command '42' failed/);
});

test('the directory and the file must be root-owned, at most 0755, and executable', async (t) => {
  const { cfg, rc, script, dir } = setup(t);
  script('cmd', 'echo ran');
  assert.equal(restrictedCommandProblem(rc, 'cmd'), null);
  // Group- or world-writable directory.
  chmodSync(rc, 0o775);
  assert.match(restrictedCommandProblem(rc, 'cmd') ?? '', /mode 775, beyond 755/);
  chmodSync(rc, 0o757);
  assert.match(restrictedCommandProblem(rc, 'cmd') ?? '', /mode 757/);
  chmodSync(rc, 0o755);
  // Not root's.
  chownSync(rc, 1, 0);
  assert.match(restrictedCommandProblem(rc, 'cmd') ?? '', /owned by 1:0/);
  chownSync(rc, 0, 1);
  assert.match(restrictedCommandProblem(rc, 'cmd') ?? '', /owned by 0:1/);
  chownSync(rc, 0, 0);
  // The file: writable by others, setuid, not root's, not executable, not a regular file.
  chmodSync(join(rc, 'cmd'), 0o777);
  assert.match(restrictedCommandProblem(rc, 'cmd') ?? '', /mode 777/);
  chmodSync(join(rc, 'cmd'), 0o4755);
  assert.match(restrictedCommandProblem(rc, 'cmd') ?? '', /mode 4755/);
  chmodSync(join(rc, 'cmd'), 0o644);
  assert.match(restrictedCommandProblem(rc, 'cmd') ?? '', /not executable|is not executable/);
  chmodSync(join(rc, 'cmd'), 0o755);
  chownSync(join(rc, 'cmd'), 0, 1);
  assert.match(restrictedCommandProblem(rc, 'cmd') ?? '', /owned by 0:1/);
  mkdirSync(join(rc, 'adir'), { mode: 0o755 });
  assert.match(restrictedCommandProblem(rc, 'adir') ?? '', /not a regular file/);
  // A symlink in the directory to a file elsewhere that a non-root user owns.
  writeFileSync(join(dir, 'user-owned'), '#!/bin/sh\necho escaped\n', { mode: 0o755 });
  chownSync(join(dir, 'user-owned'), 1000, 1000);
  symlinkSync(join(dir, 'user-owned'), join(rc, 'link'));
  assert.match(restrictedCommandProblem(rc, 'link') ?? '', /owned by 1000:1000/);
  assert.match(restrictedCommandProblem(join(dir, 'missing'), 'cmd') ?? '', /cannot stat .*ENOENT/);
  // And through run(): the generic message.
  chmodSync(rc, 0o777);
  await assert.rejects(new RestrictedCommands(cfg).run('cmd'), /Executing command 'cmd' failed/);
});

test('refusals hold the lock: a second caller waits for the first one’s fail delay', async (t) => {
  const { dir, script } = setup(t);
  script('ok', 'echo ran');
  const cfg = testConfig(dir, { restrictedCommandFailDelaySec: 0.5 });
  const rc = new RestrictedCommands(cfg);
  const started = Date.now();
  const bad = rc.run('missing').catch(() => 'refused');
  const good = rc.run('ok').then(() => Date.now() - started);
  assert.equal(await bad, 'refused');
  assert.ok((await good) >= 450, 'the good call ran only after the refused one released the lock');
});

test('the lock: a caller that cannot get it within its wait fails and never runs; the queue goes on', async () => {
  const lock = new TimedLock();
  const order: string[] = [];
  let release!: () => void;
  const first = lock.with(
    1000,
    () => new Error('first timed out'),
    async () => {
      order.push('first');
      await new Promise<void>((r) => {
        release = r;
      });
    },
  );
  const second = lock.with(
    50,
    () => new Error('second timed out'),
    async () => {
      order.push('second');
    },
  );
  const third = lock.with(
    1000,
    () => new Error('third timed out'),
    async () => {
      order.push('third');
    },
  );
  await assert.rejects(second, /second timed out/);
  release();
  await first;
  await third;
  assert.deepEqual(order, ['first', 'third']);
});

test('a command that leaves a child running answers at its own exit', async (t) => {
  const { cfg, script } = setup(t);
  script('spawns', 'sleep 4 & echo started');
  const started = Date.now();
  assert.equal(await new RestrictedCommands(cfg).run('spawns'), 'started\n');
  assert.ok(Date.now() - started < 2000, 'not held until the 4 s child ends');
});
