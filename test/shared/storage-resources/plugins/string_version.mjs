import { Plugin } from '../../../../src/shared/storage-resources/api/index.js';
export const version = '1';
export class StringVersion extends Plugin { initialScan() {} }
