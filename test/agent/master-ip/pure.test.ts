// The master IP and storage-dir contracts against the agent's tables and docs, and the pure parts:
// `ip -j address` parsing and the argument arrays.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { findArping } from '../../../src/agent/master-ip/address.js';
import { addArgs, arpingArgs, delArgs, parseAddresses } from '../../../src/agent/master-ip/params.js';
import { masterIpProcedures } from '../../../src/agent/master-ip/rpc.js';
import { insideDir } from '../../../src/agent/storage-dir/rename.js';
import { storageDirProcedures } from '../../../src/agent/storage-dir/rpc.js';
import { MASTER_IP_PROCEDURES } from '../../../src/shared/host/master-ip.js';
import { STORAGE_DIR_PROCEDURES } from '../../../src/shared/host/storage-dir.js';

test('the agent serves exactly the contracts, each documented in docs/agent.md', () => {
  assert.deepEqual(Object.keys(masterIpProcedures()).sort(), [...MASTER_IP_PROCEDURES].sort());
  const dir = storageDirProcedures({ allowedRoots: [], isAttached: () => false });
  assert.deepEqual(Object.keys(dir).sort(), [...STORAGE_DIR_PROCEDURES].sort());
  const doc = readFileSync(new URL('../../../docs/agent.md', import.meta.url), 'utf8');
  for (const p of [...MASTER_IP_PROCEDURES, ...STORAGE_DIR_PROCEDURES])
    assert.match(doc, new RegExp(`\`${p}\``));
});

test('ip -j address output: IPv4 addresses per device', () => {
  const json = JSON.stringify([
    { ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }] },
    {
      ifname: 'xenbr0',
      addr_info: [
        { family: 'inet', local: '10.0.0.5', prefixlen: 24 },
        { family: 'inet6', local: 'fe80::1', prefixlen: 64 },
        { family: 'inet', local: '10.0.0.5', prefixlen: 16 },
      ],
    },
    { ifname: 'eth0' },
    null,
  ]);
  assert.deepEqual(parseAddresses(json), [
    { dev: 'lo', ip: '127.0.0.1', prefix: 8 },
    { dev: 'xenbr0', ip: '10.0.0.5', prefix: 24 },
    { dev: 'xenbr0', ip: '10.0.0.5', prefix: 16 },
  ]);
  assert.deepEqual(parseAddresses(''), []);
  assert.throws(() => parseAddresses('{}'), /not a list/);
});

test('argument arrays: one element per value, nothing a shell would read', () => {
  assert.deepEqual(addArgs('10.0.0.5', 24, 'xenbr0'), ['address', 'add', '10.0.0.5/24', 'dev', 'xenbr0']);
  assert.deepEqual(delArgs('10.0.0.5', 16, 'xenbr0'), ['address', 'del', '10.0.0.5/16', 'dev', 'xenbr0']);
  assert.deepEqual(arpingArgs('10.0.0.5', 'xenbr0'), ['-U', '-c', '3', '-I', 'xenbr0', '10.0.0.5']);
  assert.equal(findArping('/nonexistent-a:/nonexistent-b'), undefined);
});

test('insideDir: the directory itself and below, not a sibling sharing a prefix', () => {
  assert.equal(insideDir('/srs/a', '/srs/a'), true);
  assert.equal(insideDir('/srs/a/vol.qcow2', '/srs/a'), true);
  assert.equal(insideDir('/srs/ab/vol.qcow2', '/srs/a'), false);
});
