import { Plugin } from '../../../../src/shared/storage-resources/api/index.js';
export const version = 2;
export class WrongVersion extends Plugin { initialScan() {} }
