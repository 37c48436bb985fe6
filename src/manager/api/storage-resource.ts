// The storage_resource extension class (berth-extensions.json; docs/storage-plugins.md "Through the
// API and xe"): the pool master's resource store read through XenAPI, and the roots of controller
// plugins added and removed. Records come from the store as it is at the call; refs and uuids are
// name-based on the record id (storage-resource/ids.ts). Without a running runtime (storage
// resources off, or failed to start) every call is OPERATION_NOT_ALLOWED; a slave answers
// HOST_IS_SLAVE as for every call (the dispatcher's slave gate), so clients reach the master.
import { randomUUID } from 'node:crypto';
import { XenApiError } from '../../shared/errors.js';
import { ResourceStoreError } from '../storage-resources/errors.js';
import type { StorageRuntime } from '../storage-resources/runtime/storage-runtime.js';
import type { CallContext, HandlerTable } from './context.js';
import { ResourceIdentities } from './storage-resource/ids.js';
import { objectLinks } from './storage-resource/links.js';
import { alertRecord, pluginRecords, resourceRecord } from './storage-resource/records.js';
import { rootAttributes } from './storage-resource/root-attributes.js';

const CLS = 'storage_resource';

/** What a call works with: the runtime and the record identities of this pool. */
interface Scope {
  rt: StorageRuntime;
  ids: ResourceIdentities;
}

const identities = new WeakMap<StorageRuntime, ResourceIdentities>();

function scope(ctx: CallContext): Scope {
  const rt = ctx.svc.storageResources;
  if (!rt)
    throw new XenApiError('OPERATION_NOT_ALLOWED', [
      'Storage resources are not running on this host (turned off, failed to start, or not the pool master)',
    ]);
  let ids = identities.get(rt);
  if (!ids) {
    const pool = String(ctx.svc.db.mustGet('pool', ctx.svc.poolRef()).uuid);
    ids = new ResourceIdentities(pool, () => rt.store.queries.all().map((r) => r.id));
    identities.set(rt, ids);
  }
  return { rt, ids };
}

/** The record a ref names, else HANDLE_INVALID [storage_resource, ref]. */
function mustId(s: Scope, ref: string): number {
  const id = s.ids.idOfRef(ref);
  if (id === undefined) throw new XenApiError('HANDLE_INVALID', [CLS, ref]);
  return id;
}

function rootsByRecord(s: Scope): Map<number, string> {
  const q = s.rt.store.queries;
  const out = new Map<number, string>();
  for (const root of q.roots()) {
    const id = q.rootRecord(root);
    if (id !== undefined) out.set(id, root);
  }
  return out;
}

function classLabels(s: Scope): Map<string, string> {
  return new Map(s.rt.plugins.classes.map((c) => [`${c.plugin}.${c.name}`, c.label]));
}

/** The loaded class's label; a class no loaded plugin declares (any more) shows its name. */
const classLabel = (labels: Map<string, string>, cls: string) =>
  labels.get(cls) ?? cls.slice(cls.indexOf('.') + 1);

function record(s: Scope, id: number, roots = rootsByRecord(s), labels = classLabels(s)) {
  const q = s.rt.store.queries;
  const view = q.resource(id);
  if (!view) throw new XenApiError('HANDLE_INVALID', [CLS, s.ids.refOf(id)]);
  return resourceRecord({
    view,
    classLabel: classLabel(labels, view.class),
    rootOf: roots.get(id),
    parents: q.parents(id),
    children: q.children(id),
    alerts: q.activeAlerts(id).map((a) => a.message),
    uuidOf: (i) => s.ids.uuidOf(i),
    refOf: (i) => s.ids.refOf(i),
  });
}

/** The store refused the caller's input (ResourceStoreError); anything else stays an internal error. */
function storeRefusal(field: string, e: unknown): never {
  if (e instanceof ResourceStoreError) throw new XenApiError('INVALID_VALUE', [field, e.message]);
  throw e;
}

export const storageResourceApi: HandlerTable = {
  handlers: {
    'storage_resource.get_all': (ctx) => {
      const s = scope(ctx);
      return s.rt.store.queries.all().map((r) => s.ids.refOf(r.id));
    },
    'storage_resource.get_all_records': (ctx) => {
      const s = scope(ctx);
      const roots = rootsByRecord(s);
      const labels = classLabels(s);
      const all = s.rt.store.queries.everything();
      const out: Record<string, object> = {};
      for (const view of all.views)
        out[s.ids.refOf(view.id)] = resourceRecord({
          view,
          classLabel: classLabel(labels, view.class),
          rootOf: roots.get(view.id),
          parents: all.parents.get(view.id) ?? [],
          children: all.children.get(view.id) ?? [],
          alerts: all.alertMessages.get(view.id) ?? [],
          uuidOf: (i) => s.ids.uuidOf(i),
          refOf: (i) => s.ids.refOf(i),
        });
      return out;
    },
    'storage_resource.get_record': (ctx, self) => {
      const s = scope(ctx);
      return record(s, mustId(s, self));
    },
    'storage_resource.get_by_uuid': (ctx, uuid) => {
      const s = scope(ctx);
      const id = s.ids.idOfUuid(uuid);
      if (id === undefined) throw new XenApiError('UUID_INVALID', [CLS, uuid]);
      return s.ids.refOf(id);
    },
    'storage_resource.get_by_class': (ctx, className) => {
      const s = scope(ctx);
      return s.rt.store.queries.resourcesOfClass(className).map((r) => s.ids.refOf(r.id));
    },
    'storage_resource.get_statistics': (ctx, self) => {
      const s = scope(ctx);
      const latest = s.rt.store.queries.latestStatistics(mustId(s, self));
      return Object.fromEntries(Object.entries(latest).map(([k, [, v]]) => [k, statText(v)]));
    },
    'storage_resource.get_statistic_history': (ctx, self, name) => {
      const s = scope(ctx);
      const id = mustId(s, self);
      const q = s.rt.store.queries;
      if (!(name in q.latestStatistics(id))) throw new XenApiError('INVALID_VALUE', ['name', name]);
      return q.statisticHistory(id, name).map(([ts, v]) => ({ timestamp: String(ts), value: statText(v) }));
    },
    'storage_resource.get_alerts': (ctx, self) => {
      const s = scope(ctx);
      const id = mustId(s, self);
      const q = s.rt.store.queries;
      // Own alerts with their history; propagated ones while active (the store keeps where they reach).
      const own = q.alerts().filter((a) => a.resourceId === id);
      const propagated = q.activeAlerts(id).filter((a) => a.propagated);
      return [...own, ...propagated]
        .sort((a, b) => a.id - b.id)
        .map((a) => alertRecord(a, (i) => s.ids.uuidOf(i)));
    },
    'storage_resource.get_all_alerts': (ctx, includeHistory) => {
      const s = scope(ctx);
      const list = s.rt.store.queries.alerts(includeHistory ? {} : { active: true });
      return list.map((a) => alertRecord(a, (i) => s.ids.uuidOf(i)));
    },
    'storage_resource.get_affected': (ctx, self) => {
      const s = scope(ctx);
      const a = objectLinks(ctx.svc, s.rt.store.queries).affectedBy(mustId(s, self));
      return {
        storage_resources: a.resources.map((i) => s.ids.refOf(i)),
        SRs: a.srs,
        VDIs: a.vdis,
        VBDs: a.vbds,
        VMs: a.vms,
      };
    },
    'storage_resource.get_by_vm': (ctx, vm) => {
      const s = scope(ctx);
      ctx.svc.db.mustGet('VM', vm);
      const d = objectLinks(ctx.svc, s.rt.store.queries).dependenciesOfVm(vm);
      return {
        VBDs: d.vbds,
        VDIs: d.vdis,
        SRs: d.srs,
        storage_resources: d.resources.map((i) => s.ids.refOf(i)),
      };
    },
    'storage_resource.create_root': async (ctx, plugin, className, attributes) => {
      const s = scope(ctx);
      const loaded = s.rt.plugins.loader.plugins.get(plugin);
      if (!loaded || loaded.internal) throw new XenApiError('INVALID_VALUE', ['plugin', plugin]);
      const name = className.startsWith(`${plugin}.`) ? className.slice(plugin.length + 1) : className;
      const cls = loaded.resourceClasses.find((c) => c.meta.name === name);
      const info = s.rt.plugins.classes.find((c) => c.plugin === plugin && c.name === name);
      if (!cls || !info) throw new XenApiError('INVALID_VALUE', ['class_name', className]);
      if (!info.scannable)
        throw new XenApiError('INVALID_VALUE', [
          'class_name',
          `${plugin}.${name} is not a scannable resource class`,
        ]);
      let values: ReturnType<typeof rootAttributes>;
      try {
        values = rootAttributes(cls, attributes);
      } catch (e) {
        // The plugin's class refused them: its validation message.
        throw new XenApiError('INVALID_VALUE', ['attributes', (e as Error).message]);
      }
      let id: number;
      try {
        id = await s.rt.store.createRoot(randomUUID(), s.rt.plugins.classes, `${plugin}.${name}`, values);
      } catch (e) {
        storeRefusal('attributes', e);
      }
      // Its scans start now rather than at the daemon's next look (every 5 s).
      await s.rt.daemon.discover();
      return s.ids.refOf(id);
    },
    'storage_resource.destroy_root': async (ctx, self) => {
      const s = scope(ctx);
      const id = mustId(s, self);
      const root = rootsByRecord(s).get(id);
      if (root === undefined)
        throw new XenApiError('OPERATION_NOT_ALLOWED', [`storage resource ${self} is not a root`]);
      if (ctx.svc.db.refByUuid('host', root))
        throw new XenApiError('OPERATION_NOT_ALLOWED', [
          `storage resource ${self} is the root of a host's agent-fed plugins; it goes with the host`,
        ]);
      // The scan loop stops (teardown) before the records go, so no scan writes them back.
      await s.rt.daemon.stopRoot(root);
      await s.rt.store.removeRoot(root);
      await s.rt.store.sessionClose(root);
    },
    'storage_resource.get_plugins': (ctx) => pluginRecords(scope(ctx).rt.plugins),
  },
};

function statText(v: number | number[]): string {
  return Array.isArray(v) ? JSON.stringify(v) : String(v);
}
