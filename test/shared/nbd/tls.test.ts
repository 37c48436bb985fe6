// The NBD client over TCP with TLS (NBD_OPT_STARTTLS) against qemu-nbd with x509 credentials
// from the pool PKI: the certificate is checked against the CA and the host's uuid, data reads
// back as written, and a client that skips TLS gets the server's NBD_REP_ERR_TLS_REQD.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { run, runChecked } from '../../../src/shared/exec.js';
import { connectNbd, NbdError } from '../../../src/shared/nbd/index.js';
import {
  CA_CERT,
  createPoolCa,
  HOST_CERT,
  HOST_KEY,
  issueHostCert,
} from '../../../src/shared/pki/pool-pki.js';
import { tempDir } from '../../helpers/tmp.js';

test('NBD over TCP with STARTTLS against qemu-nbd', { timeout: 120_000 }, async (t) => {
  let pidFile = '';
  // Registered before tempDir's removal hook: the server ends first.
  t.after(() => {
    try {
      const pid = Number(readFileSync(pidFile, 'utf8'));
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('qemu-nbd')) process.kill(pid, 'SIGKILL');
    } catch {
      /* not started or gone */
    }
  });
  const dir = tempDir(t, 'berth-nbd-tls-');
  pidFile = join(dir, 'qemu-nbd.pid');
  const host = randomUUID();
  await createPoolCa(join(dir, 'ca'));
  await issueHostCert(join(dir, 'ca'), host, '127.0.0.1', join(dir, 'host'));
  const creds = join(dir, 'creds');
  mkdirSync(creds);
  copyFileSync(join(dir, 'host', CA_CERT), join(creds, 'ca-cert.pem'));
  copyFileSync(join(dir, 'host', HOST_CERT), join(creds, 'server-cert.pem'));
  copyFileSync(join(dir, 'host', HOST_KEY), join(creds, 'server-key.pem'));
  const image = join(dir, 'disk.qcow2');
  await runChecked('qemu-img', ['create', '-q', '-f', 'qcow2', image, '8M']);
  await runChecked('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5c 4096 8192', image]);

  // A free port: qemu-nbd cannot be told port 0; try a few random ones.
  let port = 0;
  for (let i = 0; i < 10 && !port; i++) {
    const p = 20000 + Math.floor(Math.random() * 40000);
    const r = await run(
      'qemu-nbd',
      [
        '--object',
        `tls-creds-x509,id=tls0,dir=${creds},endpoint=server,verify-peer=off`,
        '--tls-creds',
        'tls0',
        '-b',
        '127.0.0.1',
        '-p',
        String(p),
        '-x',
        'disk',
        '-t', // persistent: several connections in turn
        '-r',
        '-f',
        'qcow2',
        '--fork',
        '--pid-file',
        pidFile,
        image,
      ],
      { timeoutMs: 30_000 },
    );
    if (r.code === 0) port = p;
    else if (!/in use/i.test(r.stderr)) throw new Error(r.stderr);
  }
  assert.ok(port, 'qemu-nbd started');

  const ca = readFileSync(join(dir, 'host', CA_CERT));
  const c = await connectNbd(
    { host: '127.0.0.1', port },
    {
      exportName: 'disk',
      tls: {
        ca,
        checkServerIdentity: (_name, cert) =>
          cert.subject.CN === host ? undefined : new Error(`certificate of ${cert.subject.CN}, not ${host}`),
      },
    },
  );
  assert.equal(c.size, 8 * 1024 * 1024);
  const b = await c.read(4096 - 2, 8196);
  assert.deepEqual([...b.subarray(0, 2)], [0, 0]);
  assert.ok(b.subarray(2, 8194).every((x) => x === 0x5c));
  assert.deepEqual([...b.subarray(8194)], [0, 0]);
  await c.disconnect();

  // Without TLS: the server's refusal, as a clean error.
  await assert.rejects(connectNbd({ host: '127.0.0.1', port }, { exportName: 'disk' }), (e: unknown) => {
    assert.ok(e instanceof NbdError, String(e));
    assert.equal(e.code, 'NBD_REP_ERR_TLS_REQD');
    return true;
  });
  // Another CA: the handshake fails, no data.
  await createPoolCa(join(dir, 'other'));
  await assert.rejects(
    connectNbd(
      { host: '127.0.0.1', port },
      {
        exportName: 'disk',
        tls: { ca: readFileSync(join(dir, 'other', CA_CERT)), checkServerIdentity: () => undefined },
      },
    ),
    /certificate/i,
  );
});
