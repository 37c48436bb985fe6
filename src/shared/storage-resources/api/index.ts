// The storage plugin API (issue 17): what a plugin module imports.
//   import { attributes, identifiers, resources, relations, alertConditions, statistics, Plugin,
//            defineResource } from '<berth>/src/shared/storage-resources/api/index.js';
export * as alertConditions from './alert-conditions.js';
export * as attributes from './attributes.js';
export * as resources from './builtin-resources.js';
export * as identifiers from './identifiers.js';
export * as linux from './linux-resources.js';
export { apiVersion, DEFAULT_UPDATE_PERIOD, Plugin, type PluginContext } from './plugin.js';
export * as relations from './relations.js';
export {
  type AnyResourceClass,
  type AttributeValues,
  defineResource,
  type InitOf,
  Resource,
  type ResourceClass,
  type ResourceInit,
  type ResourceInstance,
  ResourceProgrammingError,
} from './resource.js';
export * as statistics from './statistics.js';
