// The end-to-end bench's controller plugin (bench/storage-resources-e2e.ts), loaded by a real
// manager's storage runtime from this directory: IML's thousand_drives ten times larger — one
// array, 10 shelves of 1,000 drives (each a child of its shelf and referencing it), 1,000 volumes
// under the array. A shelf whose status is FAILED raises "Shelf failure" (ERROR), which the store
// propagates to the shelf's 1,000 drives. The bench steers the "hardware" through `benchControl()`
// (the same object in the manager's process) and reads when the update scan that reported a change
// began.
import {
  alertConditions,
  attributes,
  defineResource,
  identifiers,
  Plugin,
  type Resource,
  resources,
  statistics,
} from '../../src/shared/storage-resources/api/index.js';

export const version = 1;

export const SHELVES = 10;
export const DRIVES_PER_SHELF = 1000;
export const VOLUMES = 1000;

export const Array10k = defineResource({
  name: 'Array10k',
  extends: resources.ScannableResource,
  identifier: identifiers.GlobalId('name'),
  attributes: { name: attributes.String() },
});
export const Shelf = defineResource({
  name: 'Shelf',
  extends: resources.Enclosure,
  identifier: identifiers.ScopedId('number'),
  attributes: { number: attributes.Integer(), status: attributes.Enum(['OK', 'FAILED']) },
  alertConditions: [
    alertConditions.ValueCondition('status', { errorStates: ['FAILED'], message: 'Shelf failure' }),
  ],
});
export const Drive = defineResource({
  name: 'Drive',
  extends: resources.PhysicalDisk,
  identifier: identifiers.GlobalId('serial'),
  attributes: { serial: attributes.String(), shelf: attributes.ResourceReference() },
  statistics: { temperature: statistics.Gauge({ units: 'C' }) },
});
export const Volume = defineResource({
  name: 'Volume',
  extends: resources.LogicalDrive,
  identifier: identifiers.ScopedId('serial'),
  attributes: { serial: attributes.String(), drive: attributes.ResourceReference() },
});

export interface BenchControl {
  /** The shelf reported FAILED (-1: none). */
  failedShelf: number;
  /** Update scans re-report all 11,011 resources (true) or only the shelves (false). */
  fullRescan: boolean;
  /** process.hrtime.bigint() when the update scan that first reported the current failedShelf began. */
  changeScanStartedAt: bigint;
  /** The failedShelf the last update scan reported. */
  reported: number;
}

/** Shared through globalThis: the bench and the runtime's import of this file see one object. */
export function benchControl(): BenchControl {
  const g = globalThis as { __berthBenchDrives?: BenchControl };
  g.__berthBenchDrives ??= { failedShelf: -1, fullRescan: false, changeScanStartedAt: 0n, reported: -1 };
  return g.__berthBenchDrives;
}

export class TenThousandDrives extends Plugin {
  #shelves: Resource[] = [];
  #drives: Resource[] = [];

  override initialScan(root: Resource): void {
    this.updatePeriod = 0.25;
    this.#scan(root, true);
    // One sample per drive (10,000 statistic series for /metrics), at the first commit only.
    this.#drives.forEach((d, i) => {
      (d as InstanceType<typeof Drive>).temperature = 25 + (i % 20);
    });
  }

  override updateScan(root: Resource): void {
    const c = benchControl();
    const startedAt = process.hrtime.bigint();
    if (c.reported !== c.failedShelf) c.changeScanStartedAt = startedAt;
    c.reported = c.failedShelf;
    this.#scan(root, c.fullRescan);
  }

  #scan(root: Resource, everything: boolean) {
    const failed = benchControl().failedShelf;
    this.#shelves = [];
    for (let n = 0; n < SHELVES; n++)
      this.#shelves.push(
        this.updateOrCreate(Shelf, { number: n, status: n === failed ? 'FAILED' : 'OK' }, [root]).resource,
      );
    if (!everything) return;
    this.#drives = [];
    for (let i = 0; i < SHELVES * DRIVES_PER_SHELF; i++) {
      const shelf = this.#shelves[Math.floor(i / DRIVES_PER_SHELF)];
      const serial = `D${String(i).padStart(6, '0')}`;
      this.#drives.push(this.updateOrCreate(Drive, { serial, shelf }, [shelf]).resource);
    }
    for (let v = 0; v < VOLUMES; v++) {
      const drive = this.#drives[v * 10];
      this.updateOrCreate(Volume, { serial: `V${v}`, drive, size: 1 << 30 }, [root]);
    }
  }
}
