// Hot-plug of disks and NICs into a running QEMU (pure parts): the QMP commands that add and
// remove a device, and the bookkeeping of which PCIe root port holds which device. QemuVm
// (vm-process.ts) sends the commands and keeps the port map next to the saved spec.
import { XenApiError } from '../../shared/errors.js';
import type { DiskSpec, InstanceSpec, NicSpec } from '../../shared/noded/instance.js';
import { diskDeviceId, nicDeviceId, rootPorts } from './command-line.js';

export interface QmpCommand {
  execute: string;
  arguments: Record<string, unknown>;
  /**
   * Sent by berth-fdpass on the fd-passing monitor, after it passed this TAP (opened by the
   * agent's side) with `getfd` under the name in `arguments.fd`.
   */
  passTap?: string;
}

/** Which root ports the VM has and which device (QEMU id) sits in each. */
export interface PortMap {
  ports: string[];
  /** device id → port id */
  used: Record<string, string>;
}

/** The port map right after launch: every boot-time virtio device in its own port (pure). */
export function initialPorts(spec: InstanceSpec): PortMap {
  const ports = rootPorts(spec);
  const used: Record<string, string> = {};
  for (const p of ports) if (p.device) used[p.device] = p.id;
  return { ports: ports.map((p) => p.id), used };
}

/** The first free port, or OPERATION_NOT_ALLOWED when every port is taken (pure). */
export function freePort(map: PortMap): string {
  const taken = new Set(Object.values(map.used));
  const free = map.ports.find((p) => !taken.has(p));
  if (!free)
    throw new XenApiError('OPERATION_NOT_ALLOWED', ['no free PCIe port left for hot-plug in this VM']);
  return free;
}

/** Block-node name of a hot-plugged disk (distinct from boot-time -drive ids). */
export const diskNodeName = (device: string) => `node-${diskDeviceId(device)}`;
export const nicNetdevId = (device: string) => `netdev-${nicDeviceId(device)}`;
/** The getfd name of a hot-plugged NIC's TAP (QMP fd names: no leading digit; pure). */
export const nicTapFdName = (device: string) => `tap-${device.toLowerCase().replace(/[^a-z0-9_-]/g, '_')}`;

/** blockdev-add + device_add for a virtio disk in `port` (pure). */
export function diskAddCommands(d: DiskSpec, port: string): QmpCommand[] {
  const readOnly = d.readonly;
  // Block devices (LVM volumes) need the host_device protocol driver; image files use file.
  const protocol = d.path.startsWith('/dev/') ? 'host_device' : 'file';
  return [
    {
      execute: 'blockdev-add',
      arguments: {
        'node-name': diskNodeName(d.device),
        driver: d.format,
        'read-only': readOnly,
        ...(readOnly ? {} : { discard: 'unmap' }),
        file: { driver: protocol, filename: d.path, 'read-only': readOnly },
      },
    },
    {
      execute: 'device_add',
      arguments: {
        driver: 'virtio-blk-pci',
        id: diskDeviceId(d.device),
        drive: diskNodeName(d.device),
        bus: port,
      },
    },
  ];
}

/**
 * netdev_add on the TAP the network layer made, passed as a descriptor (QEMU never opens
 * /dev/net/tun), + device_add virtio-net-pci in `port` (pure).
 */
export function nicAddCommands(n: NicSpec, port: string): QmpCommand[] {
  return [
    {
      execute: 'netdev_add',
      arguments: { type: 'tap', id: nicNetdevId(n.device), fd: nicTapFdName(n.device) },
      passTap: n.tap,
    },
    {
      execute: 'device_add',
      arguments: {
        driver: 'virtio-net-pci',
        id: nicDeviceId(n.device),
        netdev: nicNetdevId(n.device),
        mac: n.mac,
        bus: port,
        ...(n.mtu ? { host_mtu: n.mtu } : {}),
      },
    },
  ];
}

/**
 * What to release once the guest has let go of a device (DEVICE_DELETED): a hot-plugged disk's
 * block node (a boot-time -drive goes away with its device) or a NIC's netdev (pure).
 */
export function releaseCommands(kind: 'disk' | 'nic', device: string): QmpCommand[] {
  return kind === 'disk'
    ? [{ execute: 'blockdev-del', arguments: { 'node-name': diskNodeName(device) } }]
    : [{ execute: 'netdev_del', arguments: { id: nicNetdevId(device) } }];
}

/** Media change of a CD drive: insert `media` or eject (null) (pure). */
export function mediaCommand(device: string, media: { path: string; format: string } | null): QmpCommand {
  const id = diskDeviceId(device);
  return media
    ? {
        execute: 'blockdev-change-medium',
        arguments: { id, filename: media.path, format: media.format, 'read-only-mode': 'read-only' },
      }
    : { execute: 'eject', arguments: { id, force: true } };
}
