// Built-in resource classes (IML api/resources.py; reference §10): plugins derive from them so the
// manager knows what a resource is (a disk, a pool, a device node) whatever plugin reports it.
import * as attributes from './attributes.js';
import { defineBuiltinResource, Resource } from './resource.js';

export { Resource };

/** A root a user creates (a controller's address); the plugin contacts it to learn the rest. */
export const ScannableResource = defineBuiltinResource({ name: 'ScannableResource' });

/** A root fed by a host's agent (the linux plugin's PluginAgentResources). */
export const HostsideResource = defineBuiltinResource({ name: 'HostsideResource' });

export const Host = defineBuiltinResource({ name: 'Host', label: 'Host', icon: 'host' });

/** Homing preference: parent of a device node, child of the LUN it presents. */
export const PathWeight = defineBuiltinResource({
  name: 'PathWeight',
  attributes: { weight: attributes.Integer() },
});

/** A descendant of a LogicalDrive that makes the drive unusable (mounted, in use). */
export const LogicalDriveOccupier = defineBuiltinResource({ name: 'LogicalDriveOccupier' });

/** A host a plugin reports (the manager may add it as a server; host_id is the manager's). */
export const VirtualMachine = defineBuiltinResource({
  name: 'VirtualMachine',
  attributes: { address: attributes.String(), host_id: attributes.Integer({ optional: true }) },
});

const DEVICE_PREFIXES = ['/dev/disk/by-path/', '/dev/disk/by-id/', '/dev/mapper/', '/dev/'];

/** A device node on a host: `<host_id>:<path without its longest known prefix>`. */
export class DeviceNode extends defineBuiltinResource({
  name: 'DeviceNode',
  attributes: {
    host_id: attributes.Integer(),
    path: attributes.PosixPath(),
    logical_drive: attributes.ResourceReference({ optional: true }),
  },
}) {
  override getLabel(): string {
    const path = this.path;
    const prefix = DEVICE_PREFIXES.filter((p) => path.startsWith(p)).sort((a, b) => b.length - a.length)[0];
    return `${this.host_id}:${prefix ? path.slice(prefix.length) : path}`;
  }
}

/** A storage device of fixed size a filesystem could be put on. */
export const LogicalDrive = defineBuiltinResource({
  name: 'LogicalDrive',
  icon: 'virtual_disk',
  attributes: {
    size: attributes.Bytes(),
    // IML declares it Boolean, yet stores the filesystem's name in it; a String keeps that name.
    filesystem_type: attributes.String({ optional: true }),
  },
});

/** Part of a sliceable device: a partition, an LVM volume. */
export const LogicalDriveSlice = defineBuiltinResource({ name: 'LogicalDriveSlice', extends: LogicalDrive });

/** A physical enclosure, drawer or shelf. */
export const Enclosure = defineBuiltinResource({ name: 'Enclosure' });
/** A cooling fan. */
export const Fan = defineBuiltinResource({ name: 'Fan' });
/** A RAID controller. */
export const Controller = defineBuiltinResource({ name: 'Controller' });
/** An aggregation of physical drives. */
export const StoragePool = defineBuiltinResource({ name: 'StoragePool', label: 'Storage pool' });
/** A hard drive or SSD. */
export const PhysicalDisk = defineBuiltinResource({ name: 'PhysicalDisk', label: 'Physical disk' });

export const NetworkInterface = defineBuiltinResource({
  name: 'NetworkInterface',
  label: 'Network node',
  attributes: { host_id: attributes.Integer() },
});

export const LNETInterface = defineBuiltinResource({ name: 'LNETInterface', extends: NetworkInterface });

export const LNETModules = defineBuiltinResource({
  name: 'LNETModules',
  label: 'LNET State',
  attributes: { host_id: attributes.Integer() },
});
