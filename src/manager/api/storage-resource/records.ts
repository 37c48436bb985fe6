// Resource store views → the Berth extension's records (berth-extensions.json): storage_resource,
// storage_resource_alert, storage_plugin. Pure: the caller hands in what the store answered.
import type {
  storage_plugin_record,
  storage_resource_alert_record,
  storage_resource_record,
} from '../../../shared/datamodel/generated/api-types.js';
import type { LoadedPlugins } from '../../storage-resources/runtime/load-plugins.js';
import type { StoredValue } from '../../storage-resources/identity.js';
import type { AlertView, ResourceView } from '../../storage-resources/queries.js';
import { EPOCH_XAPI, toXapiTime } from '../../time.js';

// The records as the datamodel declares them (berth-extensions.json → generated api-types).
export type StorageResourceRecord = storage_resource_record;
export type StorageResourceAlertRecord = storage_resource_alert_record;
export type StoragePluginRecord = Omit<storage_plugin_record, 'state'> & { state: 'loaded' | 'broken' };

/** An attribute value as text: references as the referenced resource's uuid, unset as absent. */
export function attributeText(v: StoredValue, uuidOf: (id: number) => string): string | undefined {
  if (v === null) return undefined;
  if (typeof v === 'object') return uuidOf(v.record);
  return String(v);
}

export interface RecordInputs {
  view: ResourceView;
  classLabel: string;
  /** The root whose own record this is, if any. */
  rootOf?: string;
  parents: number[];
  children: number[];
  /** Texts of its active alerts, own and propagated. */
  alerts: string[];
  uuidOf(id: number): string;
  refOf(id: number): string;
}

export function resourceRecord(x: RecordInputs): StorageResourceRecord {
  const attributes: Record<string, string> = {};
  for (const [k, v] of Object.entries(x.view.attributes)) {
    const t = attributeText(v, x.uuidOf);
    if (t !== undefined) attributes[k] = t;
  }
  return {
    uuid: x.uuidOf(x.view.id),
    class_name: x.view.class,
    class_label: x.classLabel,
    label: x.view.label,
    alias: x.view.alias ?? '',
    root: x.view.scope ?? x.rootOf ?? '',
    reported_by: x.view.reportedBy,
    attributes,
    parents: x.parents.map(x.refOf),
    children: x.children.map(x.refOf),
    alerts: x.alerts,
  };
}

const SEVERITY: Record<number, string> = { 40: 'ERROR', 30: 'WARNING', 20: 'INFO' };

export function alertRecord(a: AlertView, uuidOf: (id: number) => string): StorageResourceAlertRecord {
  return {
    id: a.id,
    resource: a.resourceId === null ? '' : uuidOf(a.resourceId),
    root: a.root,
    kind: a.kind,
    alert_class: a.alertClass,
    attribute: a.attribute ?? '',
    severity: SEVERITY[a.severity] ?? String(a.severity),
    message: a.message,
    active: a.active,
    raised: toXapiTime(new Date(a.raisedAt * 1000)),
    lowered: a.loweredAt === null ? EPOCH_XAPI : toXapiTime(new Date(a.loweredAt * 1000)),
    propagated: a.propagated,
  };
}

/** Loaded plugins (internal ones such as linux included), then the broken ones, by name. */
export function pluginRecords(p: LoadedPlugins): StoragePluginRecord[] {
  const loaded: StoragePluginRecord[] = [...p.loader.plugins.values()].map((pl) => {
    const mine = p.classes.filter((c) => c.plugin === pl.name);
    return {
      name: pl.name,
      state: 'loaded',
      entry: pl.internal ? '' : pl.entry,
      classes: mine.map((c) => `${c.plugin}.${c.name}`),
      scannable_classes: mine.filter((c) => c.scannable).map((c) => `${c.plugin}.${c.name}`),
      errors: [],
    };
  });
  const broken: StoragePluginRecord[] = [...p.errored].map(([name, errors]) => ({
    name,
    state: 'broken',
    entry: '',
    classes: [],
    scannable_classes: [],
    errors,
  }));
  const byName = (a: StoragePluginRecord, b: StoragePluginRecord) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  return [...loaded.sort(byName), ...broken.sort(byName)];
}
