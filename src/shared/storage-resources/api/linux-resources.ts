// The resource classes of the built-in `linux` plugin (IML chroma_core/plugins/linux.py; reference
// §10), declared here so that other plugins' relations (`Provide(['linux', 'ScsiDevice'], ...)`)
// resolve and validate even before the linux plugin itself is loaded. The plugin that reports them
// from lsblk/sysfs imports these declarations.
import * as attributes from './attributes.js';
import {
  DeviceNode,
  HostsideResource,
  LogicalDrive,
  LogicalDriveOccupier,
  LogicalDriveSlice,
  StoragePool,
} from './builtin-resources.js';
import { GlobalId, ScopedId } from './identifiers.js';
import { defineResource, setClassPlugin } from './resource.js';

export const LINUX_PLUGIN = 'linux';

/** The root of every agent-fed plugin session: one per (host, plugin). */
export const PluginAgentResources = defineResource({
  name: 'PluginAgentResources',
  extends: HostsideResource,
  identifier: GlobalId('host_id', 'plugin_name'),
  attributes: { host_id: attributes.Integer(), plugin_name: attributes.String() },
});

export const ScsiDevice = defineResource({
  name: 'ScsiDevice',
  label: 'SCSI device',
  extends: LogicalDrive,
  identifier: GlobalId('serial'),
  attributes: { serial: attributes.String() },
});

export const UnsharedDevice = defineResource({
  name: 'UnsharedDevice',
  label: 'Local disk',
  extends: LogicalDrive,
  identifier: ScopedId('path'),
  attributes: { path: attributes.PosixPath() },
});

export const LinuxDeviceNode = defineResource({
  name: 'LinuxDeviceNode',
  label: 'Device node',
  extends: DeviceNode,
  identifier: ScopedId('path'),
});

export const Partition = defineResource({
  name: 'Partition',
  extends: LogicalDriveSlice,
  identifier: GlobalId('container', 'number'),
  attributes: { container: attributes.ResourceReference(), number: attributes.Integer() },
});

/** A device known by its uuid, labelled by its name when it has one (`tank`, `md127`), as IML's. */
const byUuid = (name: string, label: string, base = LogicalDrive) =>
  class extends defineResource({
    name,
    label,
    extends: base,
    identifier: GlobalId('uuid'),
    attributes: { uuid: attributes.String(), name: attributes.String({ optional: true }) },
  }) {
    override getLabel(): string {
      return this.name ? String(this.name) : super.getLabel();
    }
  };

export const MdRaid = byUuid('MdRaid', 'MD RAID');
export const EMCPower = byUuid('EMCPower', 'EMC Powerpath');
export const ZfsPool = byUuid('ZfsPool', 'ZFS pool');
export const ZfsDataset = byUuid('ZfsDataset', 'ZFS dataset');
export const ZfsVol = byUuid('ZfsVol', 'ZFS volume');

export const ZfsPartition = defineResource({
  name: 'ZfsPartition',
  label: 'ZFS partition',
  extends: LogicalDriveSlice,
  identifier: GlobalId('container', 'number'),
  attributes: { container: attributes.ResourceReference(), number: attributes.Integer() },
});

export const LocalMount = defineResource({
  name: 'LocalMount',
  label: 'Local mount',
  extends: LogicalDriveOccupier,
  identifier: ScopedId('mount_point'),
  attributes: { fstype: attributes.String(), mount_point: attributes.PosixPath() },
});

/** Labelled by its name, as IML's linux plugin does (a VG's uuid says nothing to an operator). */
export class LvmGroup extends defineResource({
  name: 'LvmGroup',
  label: 'Volume group',
  extends: StoragePool,
  identifier: GlobalId('uuid'),
  attributes: { uuid: attributes.String(), name: attributes.String(), size: attributes.Bytes() },
}) {
  override getLabel(): string {
    return String(this.name);
  }
}

export class LvmVolume extends defineResource({
  name: 'LvmVolume',
  label: 'Logical volume',
  extends: LogicalDriveSlice,
  identifier: GlobalId('uuid', 'vg'),
  attributes: { uuid: attributes.String(), name: attributes.String(), vg: attributes.ResourceReference() },
}) {
  override getLabel(): string {
    return String(this.name);
  }
}

/** Every class of the linux plugin, for the loader's relation resolution. */
export const LINUX_RESOURCE_CLASSES = [
  PluginAgentResources,
  ScsiDevice,
  UnsharedDevice,
  LinuxDeviceNode,
  Partition,
  MdRaid,
  EMCPower,
  ZfsPool,
  ZfsDataset,
  ZfsVol,
  ZfsPartition,
  LocalMount,
  LvmGroup,
  LvmVolume,
];

for (const c of LINUX_RESOURCE_CLASSES) setClassPlugin(c, LINUX_PLUGIN);
