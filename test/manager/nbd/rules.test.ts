// The pure rules of NBD access: which networks switch TLS on (xapi-nbd), how export names parse,
// and which hosts/PIFs VDI.get_nbd_info offers (xapi_vdi.ml _get_nbd_info).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ensureSelfSignedCert } from '../../../src/manager/tls.js';
import { tempDir } from '../../helpers/tmp.js';
import type { Database } from '../../../src/manager/db/database.js';
import { nbdMode, parseExportName } from '../../../src/manager/nbd/exports.js';
import { nbdInfo, pickSubject } from '../../../src/manager/nbd/nbd-info.js';
import { Rep } from '../../../src/manager/nbd/protocol.js';
import { ExportRefused } from '../../../src/manager/nbd/server.js';
import { XenApiError } from '../../../src/shared/errors.js';

type Rows = Record<string, Record<string, Record<string, unknown>>>;

/** The three reads nbdInfo and nbdMode make, over plain rows. */
function fakeDb(rows: Rows): Database {
  const table = (cls: string) => new Map(Object.entries(rows[cls] ?? {}));
  return {
    all: table,
    get: (cls: string, ref: string) => rows[cls]?.[ref],
    mustGet: (cls: string, ref: string) => {
      const r = rows[cls]?.[ref];
      if (!r) throw new XenApiError('HANDLE_INVALID', [cls, ref]);
      return r;
    },
  } as unknown as Database;
}

const UUID = '3f1f6a8e-58f8-4f55-9b8e-6c1b5f0e9a01';

function world(purposes: string[][]): Rows {
  return {
    network: Object.fromEntries(purposes.map((p, i) => [`net${i}`, { purpose: p }])),
    VDI: {
      vdi: { uuid: UUID, SR: 'sr', type: 'user' },
      meta: { uuid: 'x', SR: 'sr', type: 'cbt_metadata' },
    },
    PBD: {
      p1: { SR: 'sr', host: 'h1', currently_attached: true },
      p2: { SR: 'sr', host: 'h2', currently_attached: false },
      p3: { SR: 'other', host: 'h3', currently_attached: true },
    },
    host: { h1: { hostname: 'one' }, h2: { hostname: 'two' }, h3: { hostname: 'three' } },
    PIF: {
      a: { host: 'h1', network: 'net0', IP: '192.0.2.1', IPv6: ['2001:db8::1'], currently_attached: true },
      b: { host: 'h1', network: 'net1', IP: '', IPv6: ['2001:db8::2', ''], currently_attached: true },
      c: { host: 'h1', network: 'net0', IP: '192.0.2.9', currently_attached: false },
      d: { host: 'h2', network: 'net0', IP: '192.0.2.2', currently_attached: true },
      e: { host: 'h3', network: 'net0', IP: '192.0.2.3', currently_attached: true },
    },
  };
}

test('nbdMode: nbd → TLS, insecure_nbd → plain, neither or both → refused', () => {
  assert.equal(nbdMode(fakeDb(world([['nbd'], []]))).kind, 'tls');
  assert.equal(nbdMode(fakeDb(world([[], ['insecure_nbd']]))).kind, 'plain');
  assert.equal(nbdMode(fakeDb(world([[], []]))).kind, 'refuse');
  assert.equal(nbdMode(fakeDb(world([['nbd'], ['insecure_nbd']]))).kind, 'refuse');
});

test('parseExportName: /<uuid>?session_id=<ref>, anything else refused', () => {
  assert.deepEqual(parseExportName(`/${UUID}?session_id=OpaqueRef:abc`), {
    vdiUuid: UUID,
    session: 'OpaqueRef:abc',
  });
  const refused = (name: string, reply: number) =>
    assert.throws(
      () => parseExportName(name),
      (e) => e instanceof ExportRefused && e.reply === reply,
    );
  refused(`${UUID}?session_id=x`, Rep.ERR_UNKNOWN); // no leading slash
  refused('/not-a-uuid?session_id=x', Rep.ERR_UNKNOWN);
  refused(`/${UUID}`, Rep.ERR_POLICY);
  refused(`/${UUID}?session_id=`, Rep.ERR_POLICY);
  refused(`/${UUID}/../x?session_id=a`, Rep.ERR_UNKNOWN);
  refused(`/${'a'.repeat(5000)}`, Rep.ERR_UNKNOWN);
  refused('', Rep.ERR_UNKNOWN);
});

test('nbdInfo: hosts with the SR plugged, their attached PIFs on NBD networks, IPv4 then IPv6', async (t) => {
  const dir = tempDir(t, 'berth-nbdserver-rules-');
  await ensureSelfSignedCert(join(dir, 'c.pem'), join(dir, 'k.pem'), 'zhost', '127.0.0.1');
  const pem = readFileSync(join(dir, 'c.pem'), 'utf8');
  const cert = (h: string) => (h === 'h1' || h === 'h2' || h === 'h3' ? pem : undefined);
  const db = fakeDb(world([['nbd'], ['insecure_nbd']]));
  const recs = nbdInfo(db, 'vdi', 'OpaqueRef:s', cert);
  assert.deepEqual(
    recs.map((r) => r.address),
    ['192.0.2.1', '2001:db8::1', '2001:db8::2'],
  );
  for (const r of recs) {
    assert.equal(r.exportname, `/${UUID}?session_id=OpaqueRef:s`);
    assert.equal(r.port, 10809);
    assert.equal(r.cert, pem);
    assert.equal(r.subject, 'localhost'); // SAN DNS:zhost, DNS:localhost: the least
  }
  assert.deepEqual(
    nbdInfo(db, 'vdi', 'OpaqueRef:s', () => undefined),
    [],
  ); // no certificate known
  const db2 = fakeDb(world([[], []]));
  assert.deepEqual(nbdInfo(db2, 'vdi', 'OpaqueRef:s', cert), []); // no NBD network
  assert.throws(
    () => nbdInfo(db, 'meta', 'OpaqueRef:s', cert),
    (e) => e instanceof XenApiError && e.code === 'VDI_INCOMPATIBLE_TYPE',
  );
});

test('pickSubject: least strict DNS name, else wildcard, else none', () => {
  assert.equal(pickSubject(['myhost', 'localhost']), 'localhost');
  assert.equal(pickSubject(['*.example.com', 'b.example.com']), 'b.example.com');
  assert.equal(pickSubject(['*.example.com']), '*.example.com');
  assert.equal(pickSubject([]), undefined);
});
