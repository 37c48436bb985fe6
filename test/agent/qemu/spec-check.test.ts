import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkSpec } from '../../../src/agent/qemu/spec-check.js';
import { XenApiError } from '../../../src/shared/errors.js';
import type { InstanceSpec } from '../../../src/shared/noded/instance.js';

const good: InstanceSpec = {
  uuid: '6f9a3c1e-2b7d-4e8a-9c0f-1a2b3c4d5e6f',
  name: 'vm',
  vcpus: 1,
  vcpusMax: 2,
  memoryBytes: 128 * 1024 * 1024,
  memoryMaxBytes: 128 * 1024 * 1024,
  kernel: '/boot/vmlinuz',
  disks: [
    { path: '/srv/a.qcow2', format: 'qcow2', readonly: false, device: '0' },
    { path: '', format: 'raw', readonly: true, device: '3', cdrom: true },
  ],
  nics: [{ mac: '52:54:00:aa:bb:cc', bridge: 'xenbr0', device: '0', tap: 'vif1.0' }],
  balloon: false,
  startPaused: false,
};

function rejects(change: Record<string, unknown>, field: string) {
  const spec = { ...good, ...change } as InstanceSpec;
  assert.throws(
    () => checkSpec(spec),
    (e: unknown) => e instanceof XenApiError && e.code === 'INVALID_VALUE' && e.params[0] === field,
    `expected INVALID_VALUE ${field} for ${JSON.stringify(change)}`,
  );
}

test('a well-formed spec passes', () => {
  checkSpec(good);
});

test('bad values are INVALID_VALUE naming the field', () => {
  rejects({ uuid: '../../etc' }, 'uuid');
  rejects({ uuid: 'ABCDEF00-0000-0000-0000-000000000000' }, 'uuid');
  rejects({ name: 'a\nb' }, 'name');
  rejects({ vcpus: 0 }, 'vcpus');
  rejects({ vcpus: 1.5 }, 'vcpus');
  rejects({ memoryBytes: 1024 }, 'memoryBytes');
  rejects({ memoryBytes: '1G' }, 'memoryBytes');
  rejects({ kernel: 'vmlinuz' }, 'kernel');
  rejects({ cmdline: 'a\0b' }, 'cmdline');
  rejects({ balloon: 'yes' }, 'balloon');
  rejects({ vnc: 'tcp' }, 'vnc');
  rejects({ disks: 'x' }, 'disks');
  rejects({ disks: [{ path: 'rel.qcow2', format: 'qcow2', readonly: false, device: '0' }] }, 'disk path');
  rejects({ disks: [{ path: '/a', format: 'vmdk', readonly: false, device: '0' }] }, 'disk format');
  rejects({ disks: [{ path: '/a', format: 'raw', readonly: false, device: 'x,y' }] }, 'disk device');
  rejects(
    {
      disks: [
        { path: '/a', format: 'raw', readonly: false, device: '0' },
        { path: '/b', format: 'raw', readonly: false, device: '0' },
      ],
    },
    'disk device',
  );
  rejects({ nics: [{ mac: 'zz', bridge: 'b', device: '0', tap: 't' }] }, 'nic mac');
  rejects({ nics: [{ mac: '52:54:00:aa:bb:cc', bridge: 'b', device: '0' }] }, 'nic tap');
  rejects({ nics: [{ mac: '52:54:00:aa:bb:cc', bridge: 'b', device: '0', tap: 'a,ifname=x' }] }, 'nic tap');
  rejects({ nics: [{ mac: '52:54:00:aa:bb:cc', bridge: 'b', device: '0', tap: 't', mtu: 10 }] }, 'nic mtu');
  assert.throws(() => checkSpec(null as unknown as InstanceSpec), XenApiError);
  assert.throws(() => checkSpec([] as unknown as InstanceSpec), XenApiError);
});
