// The compute nouns' pure parts: `--disk` specs, device numbering, vCPU counts from options or
// a template's topology, the BIOS boot order, refs in a task result.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CliError } from '../../../src/clients/berth/errors.js';
import { refsInResult } from '../../../src/clients/berth/nouns/compute-common.js';
import { bootOrder, vcpuCount } from '../../../src/clients/berth/nouns/vm-create.js';
import { firstFree, parseDiskSpec } from '../../../src/clients/berth/nouns/vm-device-ops.js';

const G = 2 ** 30;

test('--disk: SIZE[,SUFFIX[,SR]], a list from YAML, or a VDI uuid', () => {
  assert.deepEqual(parseDiskSpec('16G'), { kind: 'new', size: 16 * G, suffix: undefined, sr: undefined });
  assert.deepEqual(parseDiskSpec('16G,data'), { kind: 'new', size: 16 * G, suffix: 'data', sr: undefined });
  assert.deepEqual(parseDiskSpec('1T, sys , fast'), {
    kind: 'new',
    size: 2 ** 40,
    suffix: 'sys',
    sr: 'fast',
  });
  assert.deepEqual(parseDiskSpec(['2G', 'logs']), {
    kind: 'new',
    size: 2 * G,
    suffix: 'logs',
    sr: undefined,
  });
  assert.deepEqual(parseDiskSpec('1E57ECEA-1afd-49b9-9e44-99c119938acc'), {
    kind: 'existing',
    vdi: '1E57ECEA-1afd-49b9-9e44-99c119938acc',
  });
  for (const bad of ['', '16G,a,b,c', '2X', 'lots,data'])
    assert.throws(() => parseDiskSpec(bad), CliError, bad);
  assert.throws(() => parseDiskSpec('0'), /invalid disk size '0'/);
});

test('device numbers: the lowest free one', () => {
  assert.equal(firstFree(new Set()), 0);
  assert.equal(firstFree(new Set([0, 1, 3])), 2);
  assert.equal(firstFree(new Set([1, 2])), 0);
});

test('vCPUs: a number, or sockets × cores × threads of a topology', () => {
  assert.equal(vcpuCount(undefined), undefined);
  assert.equal(vcpuCount(''), undefined);
  assert.equal(vcpuCount('4'), 4);
  assert.equal(vcpuCount(2), 2);
  assert.equal(vcpuCount({ topology: { cores: 12 } }), 12);
  assert.equal(vcpuCount({ architecture: 'X86_64', topology: { sockets: 2, cores: 4, threads: 2 } }), 16);
  assert.equal(vcpuCount({ cores: '3' }), 3);
  for (const bad of ['0', '-1', '1.5', 'many', { topology: { cores: 'x' } }])
    assert.throws(() => vcpuCount(bad), /invalid cpu count/);
});

test('boot order: disk, the template CD if any, network unless --nopxe', () => {
  assert.equal(bootOrder('dc', true), 'cdn');
  assert.equal(bootOrder('dc', false), 'cd');
  assert.equal(bootOrder('', true), 'cn');
  assert.equal(bootOrder('c', false), 'c');
});

test('refs in a task result (an XML-RPC fragment)', () => {
  assert.deepEqual(
    refsInResult(
      '<value><array><data><value>OpaqueRef:a1-b2</value><value>OpaqueRef:c3</value></data></array></value>',
    ),
    ['OpaqueRef:a1-b2', 'OpaqueRef:c3'],
  );
  assert.deepEqual(refsInResult(''), []);
});
