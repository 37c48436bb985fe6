// berth against a real manager (real SQLite, HTTP and HTTPS listeners, the local socket): list
// and selection over the test noun, every print rule and error form of the runner, the
// connection's failures (unreachable, TLS, bad password, expired session), the local socket as
// root, and the session always logged out.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { connectApi } from '../../helpers/berth-verb.js';
import { startManager, type TestManager } from '../../helpers/manager.js';
import { tempDir } from '../../helpers/tmp.js';
import { runInProcess } from './fixtures.js';

test('berth against a real manager', async (t) => {
  let tm: TestManager;
  let env: NodeJS.ProcessEnv;
  let dir: string;
  const uuids: Record<string, string> = {};

  {
    tm = await startManager(t, { https: true });
    dir = tempDir(t);
    writeFileSync(
      join(dir, 'berth.ini'),
      `[api]\nurl = ${tm.httpUrl}\nusername = root\npassword = ${tm.rootPassword}\n`,
    );
    env = { BERTHCONFIG: join(dir, 'berth.ini') };
    const api = await connectApi(tm.httpUrl, tm.rootPassword);
    for (const name of ['web01', 'web02', 'db01']) {
      const ref = (await api.call('VM.create', baseVmRecord({ name_label: name }))) as string;
      uuids[name] = (await api.call('VM.get_uuid', ref)) as string;
    }
    await api.call('VM.create', baseVmRecord({ name_label: 'web-template', is_a_template: true }));
    await api.client.logout();
    api.client.close();
  }

  const sessions = () => tm.manager.svc.db.count('session');

  await t.test('lists the objects of the noun in a pipe as {name} {id} lines', async () => {
    const r = await runInProcess(['testvm', 'list'], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').sort(), [
      `db01 ${uuids.db01}`,
      `web01 ${uuids.web01}`,
      `web02 ${uuids.web02}`,
    ]);
  });
  await t.test('selects with -s and -n and formats with -t', async () => {
    const r = await runInProcess(
      ['testvm', '-s', 'name~WEB and name!=web02', 'list', '-t', '{name_label}:{power_state}'],
      { env },
    );
    assert.deepEqual(r, { code: 0, stdout: 'web01:Halted\n', stderr: '' });
    const n = await runInProcess(['testvm', '-n', 'db01', 'list'], { env });
    assert.equal(n.stdout, `db01 ${uuids.db01}\n`);
  });
  await t.test('prints json, yaml and xml with -o', async () => {
    const j = await runInProcess(['-o', 'json', 'testvm', '-n', 'web01', 'list'], { env });
    const [rec] = JSON.parse(j.stdout);
    assert.equal(rec.uuid, uuids.web01);
    assert.match(rec.ref, /^OpaqueRef:/);
    const y = await runInProcess(['-o', 'yaml', 'testvm', '-n', 'web01', 'show'], { env });
    assert.equal((await import('yaml')).parse(y.stdout).name_label, 'web01');
    const x = await runInProcess(['-o', 'xml', 'testvm', '-n', 'web01', 'show'], { env });
    assert.match(
      x.stdout,
      new RegExp(`<testvm class="VM" ref="OpaqueRef:[^"]+">\\n  <uuid>${uuids.web01}</uuid>`),
    );
    const bad = await runInProcess(['-o', 'json', 'testvm', 'list', '-t', '{name}'], { env });
    assert.deepEqual(bad, {
      code: 253,
      stdout: '',
      stderr: 'list -t prints text lines; it does not combine with -o json\n',
    });
  });
  await t.test('prints a table on a terminal', async () => {
    const r = await runInProcess(['testvm', '-n', 'db01', 'list'], {
      env: { ...env, NO_COLOR: '1' },
      tty: true,
    });
    assert.equal(
      r.stdout,
      `UUID${' '.repeat(34)}NAME_LABEL  POWER_STATE\n${uuids.db01}  db01        Halted\n`,
    );
  });
  await t.test('resolves -i by uuid or reference', async () => {
    const byUuid = await runInProcess(['testvm', '-i', uuids.web02, 'show'], { env });
    assert.equal(byUuid.stdout, `testvm ${uuids.web02} web02\n`);
    const ref = JSON.parse(
      (await runInProcess(['-o', 'json', 'testvm', '-i', uuids.web02, 'show'], { env })).stdout,
    ).ref;
    assert.equal(
      (await runInProcess(['testvm', '-i', ref, 'show'], { env })).stdout,
      `testvm ${uuids.web02} web02\n`,
    );
  });
  await t.test('says no object found (252) and too many objects (251) for one-object verbs', async () => {
    assert.deepEqual(await runInProcess(['testvm', '-n', 'nope', 'ok'], { env }), {
      code: 252,
      stdout: '',
      stderr: "no object found matching the search {'name': 'nope'}\n",
    });
    assert.deepEqual(await runInProcess(['testvm', '-i', 'not-a-uuid', 'ok'], { env }), {
      code: 252,
      stdout: '',
      stderr: "no object found matching the search {'id': 'not-a-uuid'}\n",
    });
    assert.deepEqual(await runInProcess(['testvm', '-n', 'web-template', 'ok'], { env }), {
      code: 252,
      stdout: '',
      stderr: "no object found matching the search {'name': 'web-template'}\n",
    });
    assert.deepEqual(await runInProcess(['testvm', '-s', 'name~web', 'ok'], { env }), {
      code: 251,
      stdout: '',
      stderr:
        "The action \"testvm ok\" failed with\n    Too many objects found matching the search {'search': 'name~web'}\n",
    });
    assert.equal((await runInProcess(['testvm', 'ok'], { env })).code, 251, 'no filter and several objects');
    assert.deepEqual(await runInProcess(['testvm', '-n', 'web01', 'ok'], { env }), {
      code: 0,
      stdout: 'success\n',
      stderr: '',
    });
  });
  await t.test('points at a malformed search expression (253)', async () => {
    assert.deepEqual(await runInProcess(['testvm', '-s', 'name=web01 or x=1', 'list'], { env }), {
      code: 253,
      stdout: '',
      stderr:
        "malformed search expression at position 12: 'and' was expected, not 'or'\n  name=web01 or x=1\n             ^\n",
    });
  });
  await t.test("applies oVirtCmd's print rules", async () => {
    assert.deepEqual(await runInProcess(['testvm', 'fail'], { env }), {
      code: 251,
      stdout: '',
      stderr: "'testvm fail' failed\n",
    });
    assert.deepEqual(await runInProcess(['testvm', 'nothing'], { env }), { code: 0, stdout: '', stderr: '' });
    assert.deepEqual(await runInProcess(['testvm', 'lines'], { env }), {
      code: 0,
      stdout: 'one\ntwo\n',
      stderr: '',
    });
    assert.deepEqual(await runInProcess(['testvm', 'status'], { env }), {
      code: 2,
      stdout: '',
      stderr: 'half done\n',
    });
    const echo = await runInProcess(['testvm', '-n', 'x', 'echo', '-o', 'a', '-o', 'b', 'p1', 'p2'], { env });
    assert.deepEqual(JSON.parse(echo.stdout), {
      opts: { opt: ['a', 'b'] },
      args: ['p1', 'p2'],
      selection: { name: 'x' },
    });
  });
  await t.test(
    'reports a XenAPI error, a CliError and a crash as the action failing, without a stack trace',
    async () => {
      assert.deepEqual(await runInProcess(['testvm', 'xapierr'], { env }), {
        code: 251,
        stdout: '',
        stderr: 'The action "testvm xapierr" failed with\n    HANDLE_INVALID: VM, OpaqueRef:does-not-exist\n',
      });
      assert.deepEqual(await runInProcess(['testvm', 'clierr'], { env }), {
        code: 251,
        stdout: '',
        stderr: 'The action "testvm clierr" failed with\n    something went wrong\n    with detail\n',
      });
      assert.deepEqual(await runInProcess(['testvm', 'crash'], { env }), {
        code: 251,
        stdout: '',
        stderr: 'The action "testvm crash" failed with\n    unexpected\n',
      });
      const debug = await runInProcess(['-d', 'testvm', 'crash'], { env });
      assert.match(
        debug.stderr,
        /\nError: unexpected\n {4}at .*\n[\s\S]*The action "testvm crash" failed with\n {4}unexpected\n/,
      );
      assert.match(debug.stderr, /^ {4}session\.login_with_password$/m, '-d traces the calls');
      assert.doesNotMatch(debug.stderr, new RegExp(tm.rootPassword), 'the password is never shown');
    },
  );
  await t.test('reports an expired session clearly', async () => {
    assert.deepEqual(await runInProcess(['testvm', 'expire'], { env }), {
      code: 251,
      stdout: '',
      stderr:
        'the session is no longer valid (SESSION_INVALID): it expired or the manager restarted; run the command again\n',
    });
  });
  await t.test('logs every session out, whatever the verb did', async () => {
    const before = sessions();
    for (const verb of ['list', 'crash', 'xapierr', 'fail']) await runInProcess(['testvm', verb], { env });
    await runInProcess(['testvm', '-n', 'nope', 'ok'], { env });
    assert.equal(sessions(), before);
  });
  await t.test('says when the manager is unreachable, the password wrong, or TLS unverified', async () => {
    const closed = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => closed.once('listening', r));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const pw = join(dir, 'pw');
    writeFileSync(pw, `${tm.rootPassword}\n`);
    assert.deepEqual(
      await runInProcess([
        '--url',
        `http://127.0.0.1:${port}/`,
        '-u',
        'root',
        '--passwordfile',
        pw,
        'testvm',
        'list',
      ]),
      {
        code: 251,
        stdout: '',
        stderr: `cannot reach the Berth manager at http://127.0.0.1:${port}/ (ECONNREFUSED)\n`,
      },
    );
    writeFileSync(join(dir, 'bad'), 'wrong');
    assert.deepEqual(
      await runInProcess([
        '--url',
        tm.httpUrl,
        '-u',
        'root',
        '--passwordfile',
        join(dir, 'bad'),
        'testvm',
        'list',
      ]),
      {
        code: 251,
        stdout: '',
        stderr: `authentication failed for user root at ${tm.httpUrl}\n`,
      },
    );
    const tls = await runInProcess([
      '--url',
      tm.httpsUrl,
      '-u',
      'root',
      '--passwordfile',
      pw,
      'testvm',
      '-n',
      'db01',
      'list',
    ]);
    assert.equal(tls.code, 251);
    assert.match(
      tls.stderr,
      new RegExp(
        `^TLS verification of ${tm.httpsUrl} failed \\(\\w+\\): give its CA with --ca-file, or --insecure\\n$`,
      ),
    );
    const insecure = await runInProcess([
      '--url',
      tm.httpsUrl,
      '--insecure',
      '-u',
      'root',
      '--passwordfile',
      pw,
      'testvm',
      '-n',
      'db01',
      'list',
    ]);
    assert.deepEqual(insecure, { code: 0, stdout: `db01 ${uuids.db01}\n`, stderr: '' });
    const ca = join(tm.dataDir, 'tls', 'server.crt');
    const verified = await runInProcess([
      '--url',
      tm.httpsUrl,
      '--ca-file',
      ca,
      '-u',
      'root',
      '--passwordfile',
      pw,
      'testvm',
      '-n',
      'db01',
      'list',
    ]);
    assert.deepEqual(verified, { code: 0, stdout: `db01 ${uuids.db01}\n`, stderr: '' });
  });
  await t.test(
    'connects over the local socket as root without password when no url is configured',
    async () => {
      const r = await runInProcess(['testvm', '-n', 'web02', 'list'], {
        env: { BERTH_XAPI_SOCKET: tm.socketPath },
      });
      assert.deepEqual(r, { code: 0, stdout: `web02 ${uuids.web02}\n`, stderr: '' });
    },
  );
  await t.test('draws a progress bar on a terminal only', async () => {
    const tty = await runInProcess(['testvm', 'progress'], { env, tty: true });
    assert.equal(tty.stdout, 'success\n');
    assert.match(tty.stderr, /^\rcopying {2}50% \[#{15} {15}\]\rcopying 100% \[#{30}\]\n$/);
    assert.deepEqual(await runInProcess(['testvm', 'progress'], { env }), {
      code: 0,
      stdout: 'success\n',
      stderr: '',
    });
  });
  await t.test('completes object names after -n from the API', async () => {
    const r = await runInProcess(['__complete', 'testvm', '-n'], { env });
    assert.deepEqual(r, { code: 0, stdout: 'db01\nweb01\nweb02\n', stderr: '' });
  });
});
