import { attributes, defineResource, Plugin } from '../../../../src/shared/storage-resources/api/index.js';
export const version = 1;
export const Thing = defineResource({ name: 'Thing', attributes: { a: attributes.String() } });
export class NoIdentifier extends Plugin { initialScan() {} }
