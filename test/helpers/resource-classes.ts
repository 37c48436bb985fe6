// Builders of storage-resource class declarations, shared by the resource store's tests
// (test/manager/storage-resources/fixtures.ts) and its bench (bench/storage-resources.ts).
import type {
  AttributeInfo,
  AttributeType,
  ResourceClassInfo,
} from '../../src/shared/storage-resources/session.js';

/** A visible, writable attribute of `type`. */
export const attr = (type: AttributeType, optional = false): AttributeInfo => ({
  type,
  optional,
  label: type,
  hidden: false,
  userReadOnly: false,
});

/** A class `plugin.name` identified by `ids`, with no alerts, subscriptions or statistics unless `more`. */
export function cls(
  plugin: string,
  name: string,
  kind: 'global' | 'scoped',
  ids: string[],
  attributes: Record<string, AttributeInfo>,
  more: Partial<ResourceClassInfo> = {},
): ResourceClassInfo {
  return {
    plugin,
    name,
    label: name,
    identifier: { kind, attributes: ids },
    attributes,
    alertClasses: [],
    subscribes: [],
    statistics: {},
    scannable: false,
    ...more,
  };
}
