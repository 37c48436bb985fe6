// Brands that recognise the framework's objects even when a plugin bundles its own copy of the API
// (an npm-installed plugin may resolve a different copy than the manager's).
export const RESOURCE_BRAND = Symbol.for('berth.storage-resources.resource');
export const RESOURCE_CLASS_BRAND = Symbol.for('berth.storage-resources.resource-class');
export const PLUGIN_CLASS_BRAND = Symbol.for('berth.storage-resources.plugin-class');

export function isResource(v: unknown): boolean {
  return typeof v === 'object' && v !== null && RESOURCE_BRAND in v;
}
