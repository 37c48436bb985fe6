// Hand-written resource classes and reports for the store's tests: a controller plugin (`ctrl`)
// with enclosures, drives and LUNs that provide to the Linux plugin's SCSI devices on serial.
import type { TestContext } from 'node:test';
import { join } from 'node:path';
import type { ReportedResource, ResourceClassInfo } from '../../../src/shared/storage-resources/session.js';
import type { AlertEvent } from '../../../src/manager/storage-resources/context.js';
import { ResourceStore } from '../../../src/manager/storage-resources/store.js';
import { attr, cls } from '../../helpers/resource-classes.js';
import { tempDir } from '../../helpers/tmp.js';

export { attr, cls };

export const Controller = cls(
  'ctrl',
  'Controller',
  'global',
  ['address'],
  { address: attr('Hostname') },
  { scannable: true },
);
export const Enclosure = cls('ctrl', 'Enclosure', 'global', ['serial'], { serial: attr('String') });
export const Drive = cls(
  'ctrl',
  'Drive',
  'global',
  ['serial'],
  {
    serial: attr('String'),
    enclosure: attr('ResourceReference', true),
    status: attr('Enum'),
    size: attr('Bytes', true),
  },
  {
    alertClasses: [
      { alertClass: '_None_status_40', attribute: 'status', severity: 40, message: 'Drive failed' },
      { alertClass: '_None_status_30', attribute: 'status', severity: 30, message: 'Drive degraded' },
    ],
    statistics: { temperature: { type: 'Gauge' } },
  },
);
/** A LUN, scoped to its controller; the Linux SCSI device subscribes to it on serial (ignorecase). */
export const Lun = cls('ctrl', 'Lun', 'scoped', ['lun_id'], {
  lun_id: attr('String'),
  serial: attr('String'),
  drive: attr('ResourceReference', true),
});
export const Presentation = cls(
  'ctrl',
  'Presentation',
  'scoped',
  ['lun_id', 'host'],
  { lun_id: attr('String'), host: attr('String') },
  { subscribes: [{ to: { plugin: 'ctrl', name: 'Lun' }, attributes: ['lun_id'], ignorecase: false }] },
);
export const CTRL_CLASSES = [Controller, Enclosure, Drive, Lun, Presentation];

export const AgentRoot = cls('linux', 'PluginAgentResources', 'global', ['host_id', 'plugin_name'], {
  host_id: attr('Integer'),
  plugin_name: attr('String'),
});
export const ScsiDevice = cls(
  'linux',
  'ScsiDevice',
  'global',
  ['serial'],
  { serial: attr('String') },
  { subscribes: [{ to: { plugin: 'ctrl', name: 'Lun' }, attributes: ['serial'], ignorecase: true }] },
);
export const DeviceNode = cls('linux', 'LinuxDeviceNode', 'scoped', ['path'], {
  path: attr('PosixPath'),
  device: attr('ResourceReference'),
});
export const LINUX_CLASSES = [AgentRoot, ScsiDevice, DeviceNode];

export const res = (
  handle: number,
  klass: ResourceClassInfo,
  attributes: ReportedResource['attributes'],
  parents: number[] = [],
): ReportedResource => ({ handle, class: `${klass.plugin}.${klass.name}`, attributes, parents });

/** A controller at `address` with one enclosure and `drives` drives (handles 3…) in it. */
export function controllerReport(address: string, drives: string[]): ReportedResource[] {
  return [
    res(1, Controller, { address }),
    res(2, Enclosure, { serial: `enc-${address}` }, [1]),
    ...drives.map((serial, i) => res(3 + i, Drive, { serial, enclosure: { handle: 2 }, status: 'OK' }, [2])),
  ];
}

/** A store on a fresh database file, closed when the test ends; `events` collects alert events. */
export function openStore(t: TestContext, dir = tempDir(t, 'berth-resource-store-')) {
  const events: AlertEvent[] = [];
  let now = 1_000;
  const path = join(dir, 'berth.db');
  const store = new ResourceStore({ path, onAlert: (e) => events.push(e), clock: () => now });
  t.after(() => store.close());
  return { store, q: store.queries, events, path, dir, tick: (s = 1) => (now += s) };
}

/** Record id of the resource of `klass` with storage id `[id]`. */
export function idOf(store: ResourceStore, klass: ResourceClassInfo, ...ids: (string | number)[]): number {
  const name = `${klass.plugin}.${klass.name}`;
  const want = JSON.stringify(ids);
  const hit = store.queries
    .resourcesOfClass(name)
    .find((r) => store.queries.resource(r.id)!.storageId === want);
  if (!hit) throw new Error(`no ${name} ${want}`);
  return hit.id;
}

/** Every row of every resource_* table (a separate read-only connection: what is on disk). */
export async function dumpTables(path: string): Promise<Record<string, unknown[]>> {
  const Database = (await import('better-sqlite3')).default;
  const db = new Database(path, { readonly: true });
  try {
    const tables = (
      db
        .prepare(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '\\_resource\\_%' ESCAPE '\\' ORDER BY name",
        )
        .all() as {
        name: string;
      }[]
    ).map((r) => r.name);
    const out: Record<string, unknown[]> = {};
    for (const t of tables) out[t] = db.prepare(`SELECT * FROM ${t} ORDER BY 1, 2`).all();
    return out;
  } finally {
    db.close();
  }
}
