import { Plugin } from '../../../../src/shared/storage-resources/api/index.js';
export const version = 1;
export class PluginA extends Plugin { initialScan() {} }
export class PluginB extends Plugin { initialScan() {} }
