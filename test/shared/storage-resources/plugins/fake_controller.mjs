// A controller plugin in plain JavaScript (IML's fake_controller test plugin).
import { attributes, defineResource, identifiers, Plugin, resources } from '../../../../src/shared/storage-resources/api/index.js';

export const version = 1;

export const FakeController = defineResource({
  name: 'FakeController',
  extends: resources.ScannableResource,
  identifier: identifiers.GlobalId('address'),
  attributes: { address: attributes.Hostname() },
});

export const FakeDisk = defineResource({
  name: 'FakeDisk',
  extends: resources.PhysicalDisk,
  identifier: identifiers.ScopedId('slot'),
  attributes: { slot: attributes.Integer() },
});

export class FakeControllerPlugin extends Plugin {
  initialScan(root) {
    for (let slot = 0; slot < 4; slot++) this.updateOrCreate(FakeDisk, { slot }, [root]);
  }
}
