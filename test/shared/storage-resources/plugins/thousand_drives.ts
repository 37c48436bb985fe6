// IML's thousand_drives test plugin: a controller with 1,000 drives in 10 enclosures, one LUN each.
import {
  attributes,
  defineResource,
  identifiers,
  Plugin,
  type Resource,
  relations,
  resources,
} from '../../../../src/shared/storage-resources/api/index.js';

export const version = 1;

export const Array1000 = defineResource({
  name: 'Array1000',
  extends: resources.ScannableResource,
  identifier: identifiers.GlobalId('name'),
  attributes: { name: attributes.String() },
});
export const Shelf = defineResource({
  name: 'Shelf',
  extends: resources.Enclosure,
  identifier: identifiers.ScopedId('number'),
  attributes: { number: attributes.Integer() },
});
export const Drive = defineResource({
  name: 'Drive',
  extends: resources.PhysicalDisk,
  identifier: identifiers.GlobalId('serial'),
  attributes: { serial: attributes.String(), shelf: attributes.ResourceReference() },
});
export const Volume = defineResource({
  name: 'Volume',
  extends: resources.LogicalDrive,
  identifier: identifiers.ScopedId('serial'),
  attributes: { serial: attributes.String() },
  relations: [relations.Provide(['linux', 'ScsiDevice'], 'serial')],
});

export const DRIVES = Number(process.env.THOUSAND_DRIVES_COUNT ?? 1000);

export class ThousandDrives extends Plugin {
  override initialScan(root: Resource): void {
    const shelves: Resource[] = [];
    for (let n = 0; n < 10; n++) shelves.push(this.updateOrCreate(Shelf, { number: n }, [root]).resource);
    for (let i = 0; i < DRIVES; i++) {
      const shelf = shelves[i % 10];
      const serial = `D${String(i).padStart(6, '0')}`;
      const { resource: drive } = this.updateOrCreate(Drive, { serial, shelf }, [shelf]);
      this.updateOrCreate(Volume, { serial: `V${serial}`, size: 1 << 30 }, [drive]);
    }
  }
}
