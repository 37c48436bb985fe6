// The role matrix through the other ways in: the /cli endpoint (the thin xe client, logged in as a
// user of each role) and the HTTP console handler. Which role may do what is read from the
// datamodel (the message each command calls), never hand-listed.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import type { XeOptions } from '../../../src/clients/xe/main.js';
import { runThinClient } from '../../../src/clients/xe/session.js';
import { MODEL } from '../../../src/shared/datamodel/generated/model.js';
import { rbacManager, USER_PASSWORD, userOf } from './harness.js';
import { level, NO_SUCH_REF, ROLE_NAMES, type RoleName } from './matrix.js';

const message = (wire: string) => {
  const m = Object.values(MODEL.classes)
    .flatMap((c) => c.messages)
    .find((x) => x.wire === wire);
  if (!m) throw new Error(`no message ${wire}`);
  return m;
};

async function xeAs(url: string, role: RoleName, args: string[]) {
  const o: XeOptions = {
    server: '127.0.0.1',
    port: Number(new URL(url).port),
    username: userOf(role),
    password: USER_PASSWORD,
    nossl: true,
    debug: false,
    socket: '/nonexistent-berth-rbac.sock',
    args,
  };
  const out = new PassThrough();
  const err = new PassThrough();
  let text = '';
  out.on('data', (c) => (text += c));
  err.on('data', (c) => (text += c));
  const code = await runThinClient(o, {
    stdout: out,
    stderr: err,
    stdin: new PassThrough(),
    progress: false,
  });
  return { code, text };
}

test('/cli: each role may run the commands at or below its level and is denied the ones above', {
  timeout: 120_000,
}, async (t) => {
  const h = await rbacManager(t);
  const { db } = h.tm.manager.svc;
  const dom0 = String([...db.all('VM').values()].find((r) => r.is_control_domain)?.uuid);
  const pool = String(db.get('pool', h.tm.manager.svc.poolRef())?.uuid);
  // [xe command line, the message it calls that RBAC decides on]; one per level, six levels.
  const commands: [string[], string][] = [
    [['vm-list'], 'VM.get_all_records_where'],
    [['vm-start', `uuid=${dom0}`], 'VM.start'],
    [['vm-param-set', `uuid=${dom0}`, 'name-description=rbac'], 'VM.set_name_description'],
    [['vm-param-set', `uuid=${dom0}`, 'HVM-shadow-multiplier=1.0'], 'VM.set_HVM_shadow_multiplier'],
    [['pool-param-set', `uuid=${pool}`, 'name-description=rbac'], 'pool.set_name_description'],
    [['user-password-change', 'old=x', 'new=y'], 'session.change_password'],
  ];
  const levels = new Set(commands.map(([, w]) => level(message(w))));
  assert.equal(levels.size, 6, 'the commands cover six levels');
  const wrong: string[] = [];
  for (const role of ROLE_NAMES) {
    for (const [args, wire] of commands) {
      const m = message(wire);
      const allowed = m.roles.includes(role);
      const r = await xeAs(h.tm.httpUrl, role, args);
      const denied = r.text.includes('RBAC_PERMISSION_DENIED') || /permission/i.test(r.text);
      if (denied === allowed) wrong.push(`${role} xe ${args[0]} (${wire}): exit ${r.code}: ${r.text.trim()}`);
      if (!allowed && !r.text.toLowerCase().includes(wire.toLowerCase()))
        wrong.push(`${role} xe ${args[0]}: denial does not name ${wire.toLowerCase()}: ${r.text.trim()}`);
      if (!allowed && r.code === 0) wrong.push(`${role} xe ${args[0]}: denied but exit 0`);
    }
  }
  assert.deepEqual(wrong, []);
});

/** Status line of an HTTP CONNECT to the console handler. */
function connectStatus(url: string, path: string): Promise<number> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method: 'CONNECT', path });
    req.on('connect', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

test('HTTP console: read-only is forbidden (403), every other role gets past RBAC to the lookup (404)', async (t) => {
  const h = await rbacManager(t);
  for (const role of ROLE_NAMES) {
    const status = await connectStatus(
      h.tm.httpUrl,
      `/console?ref=${NO_SUCH_REF}&session_id=${h.sessions[role]}`,
    );
    // xapi's http/connect_console permission: every role but read-only
    assert.equal(status, role === 'read-only' ? 403 : 404, role);
  }
});
