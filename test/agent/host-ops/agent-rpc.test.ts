// The host operations over a real agent's socket: the manager's client reaches each procedure,
// and refusals travel as XenAPI errors.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { HOST_OPS_PROCEDURES } from '../../../src/shared/host/host-ops.js';
import { startTestAgent } from '../../helpers/test-agent.js';
import { tempDir } from '../../helpers/tmp.js';
import { errorOf, until } from './config.js';

test('a real agent serves every host operation to the manager client', async (t) => {
  const dir = tempDir(t, 'berth-hostops-rpc-');
  const rc = join(dir, 'restricted');
  mkdirSync(rc, { mode: 0o755 });
  chmodSync(rc, 0o755);
  writeFileSync(join(rc, 'hello'), '#!/bin/sh\necho hello from berth\n', { mode: 0o755 });
  mkdirSync(join(dir, 'files'));
  const hostsFile = join(dir, 'hosts');
  writeFileSync(hostsFile, '127.0.0.1\tlocalhost\n');
  const a = await startTestAgent(t, {
    hostOps: {
      restrictedCommandsDir: rc,
      restrictedCommandFailDelaySec: 0.05,
      hostsFile,
      uploadFiles: [join(dir, 'files', 'uploaded')],
      fileInfoRoots: [join(dir, 'files')],
      x509Dir: join(dir, 'crypto'),
      powercycleCommand: ['true'],
      powerDelaySec: 0.05,
    },
  });
  a.client.connect();
  await until(async () => (a.client.connected ? true : undefined), 'agent connection');
  const h = a.client.hostOps;
  assert.deepEqual(Object.keys(h).sort(), [...HOST_OPS_PROCEDURES].sort());
  const v = await h.node_verify({ version: true, instancelist: true });
  assert.deepEqual(v.instancelist, []);
  assert.equal(v.version?.[1], '0.1.0');
  assert.equal(await h.restricted_command('hello'), 'hello from berth\n');
  await assert.rejects(h.restricted_command('../hello'), (e) => {
    assert.deepEqual(errorOf(e), [
      'NODE_PROCEDURE_FAILED',
      'restricted_command',
      "Executing command '../hello' failed",
    ]);
    return true;
  });
  await h.upload_file(
    join(dir, 'files', 'uploaded'),
    Buffer.from('data').toString('base64'),
    0o600,
    0,
    0,
    1,
    1,
  );
  assert.equal(readFileSync(join(dir, 'files', 'uploaded'), 'utf8'), 'data');
  assert.equal((await h.get_file_info(join(dir, 'files', 'uploaded')))?.size, 4);
  await assert.rejects(h.get_file_info('/etc/shadow'), (e) => errorOf(e)[0] === 'INVALID_VALUE');
  assert.equal(await h.etc_hosts_modify('add', 'member2.pool.test', '10.9.9.2'), true);
  assert.match(readFileSync(hostsFile, 'utf8'), /10\.9\.9\.2\tmember2\.pool\.test member2/);
  const [name, pem] = await h.x509_cert_create(60);
  assert.match(pem, /BEGIN CERTIFICATE/);
  await h.x509_cert_remove(name);
  assert.equal(await h.node_powercycle(), 'Reboot scheduled in 0.05 seconds');
  await assert.rejects(h.host_power_action('reboot'), /host reboot is disabled/);
  await assert.rejects(h.run_oob('/bin/sh', 'power-on', 'x', 5), (e) => errorOf(e)[0] === 'INVALID_VALUE');
});
