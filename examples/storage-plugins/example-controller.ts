// Example storage plugin (docs/storage-plugins.md "Writing a plugin"): a RAID controller couplet
// with enclosures, fans, drives, RAID pools and LUNs; each LUN provides its serial to the Linux
// SCSI device (linux.ScsiDevice) a host sees, so a failing drive affects the device nodes and what
// lies on them. The "array" it talks to is simulated in memory (`arrays` below); a real plugin
// would query the controller over its management protocol in the same places.
import {
  alertConditions,
  attributes,
  defineResource,
  identifiers,
  Plugin,
  type Resource,
  relations,
  resources,
  statistics,
} from '../../src/shared/storage-resources/api/index.js';

export const version = 1;

// ---- resource classes ----------------------------------------------------------------------

/** The root a user adds: the couplet's two management addresses. */
export const Couplet = defineResource({
  name: 'Couplet',
  extends: resources.ScannableResource,
  identifier: identifiers.GlobalId('address_1', 'address_2'),
  attributes: { address_1: attributes.Hostname(), address_2: attributes.Hostname() },
});

export const Controller = defineResource({
  name: 'Controller',
  extends: resources.Controller,
  identifier: identifiers.ScopedId('index'),
  attributes: { index: attributes.Enum([0, 1]), status: attributes.Enum(['OK', 'FAILED']) },
  alertConditions: [
    alertConditions.ValueCondition('status', { errorStates: ['FAILED'], message: 'Controller failure' }),
  ],
});

export const Enclosure = defineResource({
  name: 'Enclosure',
  extends: resources.Enclosure,
  identifier: identifiers.ScopedId('shelf'),
  attributes: { shelf: attributes.Integer({ minVal: 0 }) },
});

export const Fan = defineResource({
  name: 'Fan',
  extends: resources.Fan,
  identifier: identifiers.ScopedId('enclosure', 'slot'),
  attributes: {
    enclosure: attributes.ResourceReference(),
    slot: attributes.Integer(),
    rpm: attributes.Integer({ minVal: 0 }),
  },
  alertConditions: [
    alertConditions.LowerBoundCondition('rpm', { warnBound: 1000, message: 'Fan slow or stopped' }),
  ],
});

export const HardDrive = defineResource({
  name: 'HardDrive',
  extends: resources.PhysicalDisk,
  identifier: identifiers.ScopedId('serial_number'),
  attributes: {
    serial_number: attributes.String(),
    capacity: attributes.Bytes(),
    status: attributes.Enum(['OK', 'NEARFAILURE', 'FAILED']),
  },
  statistics: { temperature: statistics.Gauge({ units: 'C' }) },
  alertConditions: [
    alertConditions.ValueCondition('status', {
      warnStates: ['NEARFAILURE'],
      message: 'Drive near failure',
      id: 'nearfailure',
    }),
    alertConditions.ValueCondition('status', {
      errorStates: ['FAILED'],
      message: 'Drive failure',
      id: 'failure',
    }),
  ],
});

export class RaidPool extends defineResource({
  name: 'RaidPool',
  extends: resources.StoragePool,
  identifier: identifiers.ScopedId('local_id'),
  attributes: {
    local_id: attributes.Integer(),
    raid_type: attributes.Enum(['raid0', 'raid1', 'raid5', 'raid6']),
    capacity: attributes.Bytes(),
  },
}) {
  override getLabel(): string {
    return String(this.local_id);
  }
}

export class Lun extends defineResource({
  name: 'Lun',
  extends: resources.LogicalDrive,
  identifier: identifiers.ScopedId('local_id'),
  attributes: { local_id: attributes.Integer(), name: attributes.String(), serial: attributes.String() },
  relations: [relations.Provide(['linux', 'ScsiDevice'], ['serial'], { ignorecase: true })],
}) {
  override getLabel(): string {
    return this.name;
  }
}

// ---- the simulated array ---------------------------------------------------------------------

export interface ArrayState {
  controllers: { index: 0 | 1; status: 'OK' | 'FAILED' }[];
  shelves: { shelf: number; fans: number[] }[];
  drives: {
    serial: string;
    shelf: number;
    bytes: number;
    status: 'OK' | 'NEARFAILURE' | 'FAILED';
    celsius: number;
  }[];
  pools: { id: number; raid: 'raid0' | 'raid1' | 'raid5' | 'raid6'; drives: string[] }[];
  luns: { id: number; name: string; serial: string; pool: number; bytes: number }[];
}

/** What each couplet (by address_1) would answer; tests and the guide edit it. */
export const arrays = new Map<string, ArrayState>();

// ---- the plugin ------------------------------------------------------------------------------

export class ExamplePlugin extends Plugin {
  override initialScan(root: Resource): void {
    this.updatePeriod = 10;
    this.#scan(root);
  }

  override updateScan(root: Resource): void {
    this.#scan(root);
  }

  /** Reports everything the array has and removes what it no longer has. */
  #scan(root: Resource): void {
    const couplet = root as InstanceType<typeof Couplet>;
    const state = arrays.get(couplet.address_1);
    // Throwing tells the framework the array is unreachable: nothing is culled, the root goes offline.
    if (!state) throw new Error(`Cannot reach ${couplet.address_1}`);

    for (const c of state.controllers)
      this.updateOrCreate(Controller, { index: c.index, status: c.status }, [root]);

    const enclosures = new Map<number, Resource>();
    for (const s of state.shelves) {
      const { resource: enclosure } = this.updateOrCreate(Enclosure, { shelf: s.shelf }, [root]);
      enclosures.set(s.shelf, enclosure);
      s.fans.forEach((rpm, slot) => {
        // A fan is a parent of its enclosure: a stopped fan affects everything in the shelf.
        const { resource: fan } = this.updateOrCreate(Fan, { enclosure, slot, rpm });
        enclosure.addParent(fan);
      });
    }

    const drives = new Map<string, Resource>();
    for (const d of state.drives) {
      const { resource: drive } = this.updateOrCreate(
        HardDrive,
        { serial_number: d.serial, capacity: d.bytes, status: d.status },
        [enclosures.get(d.shelf)!],
      );
      drive.temperature = d.celsius;
      drives.set(d.serial, drive);
    }

    const pools = new Map<number, Resource>();
    for (const p of state.pools) {
      const members = p.drives.map((s) => drives.get(s)!);
      const capacity = members.reduce((n, d) => n + (d as InstanceType<typeof HardDrive>).capacity, 0);
      const { resource: pool } = this.updateOrCreate(
        RaidPool,
        { local_id: p.id, raid_type: p.raid, capacity },
        members,
      );
      pools.set(p.id, pool);
    }

    for (const l of state.luns) {
      this.updateOrCreate(Lun, { local_id: l.id, name: l.name, serial: l.serial, size: l.bytes }, [
        pools.get(l.pool)!,
      ]);
    }

    // Gone from the array: removed (the store deletes them at the next commit).
    const keep = {
      luns: new Set(state.luns.map((l) => l.id)),
      drives: new Set(state.drives.map((d) => d.serial)),
      pools: new Set(state.pools.map((p) => p.id)),
    };
    for (const lun of this.findByAttr(Lun)) if (!keep.luns.has(lun.local_id)) this.remove(lun);
    for (const pool of this.findByAttr(RaidPool)) if (!keep.pools.has(pool.local_id)) this.remove(pool);
    for (const d of this.findByAttr(HardDrive)) if (!keep.drives.has(d.serial_number)) this.remove(d);
  }
}
