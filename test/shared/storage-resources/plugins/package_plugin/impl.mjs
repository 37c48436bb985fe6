import { attributes, defineResource, identifiers, Plugin, resources } from '../../../../../src/shared/storage-resources/api/index.js';
export const version = 1;
export const Box = defineResource({
  name: 'Box',
  extends: resources.ScannableResource,
  identifier: identifiers.AutoId(),
  attributes: { address: attributes.Hostname() },
});
export class BoxPlugin extends Plugin { initialScan() {} }
