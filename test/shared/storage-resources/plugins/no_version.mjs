import { Plugin } from '../../../../src/shared/storage-resources/api/index.js';
export class NoVersion extends Plugin { initialScan() {} }
