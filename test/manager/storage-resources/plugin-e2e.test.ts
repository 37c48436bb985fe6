// End to end through the plugin-api slice's Plugin base: a controller plugin written with the
// author-facing API feeds the store; what it reports, changes, removes and alerts on lands, a LUN
// provides to a Linux SCSI device, and a restart after going offline lowers the offline alert
// only after the first update scan. The classes' ResourceClassInfo is built here by hand from the
// classes' meta (the loader's describeClasses() is not written yet).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ValueCondition } from '../../../src/shared/storage-resources/api/alert-conditions.js';
import * as attributes from '../../../src/shared/storage-resources/api/attributes.js';
import type { ResourceAttribute } from '../../../src/shared/storage-resources/api/attributes.js';
import { ScannableResource } from '../../../src/shared/storage-resources/api/builtin-resources.js';
import { GlobalId, ScopedId } from '../../../src/shared/storage-resources/api/identifiers.js';
import { Plugin, type PluginContext } from '../../../src/shared/storage-resources/api/plugin.js';
import { Provide } from '../../../src/shared/storage-resources/api/relations.js';
import {
  type AnyResourceClass,
  defineResource,
  type Resource,
} from '../../../src/shared/storage-resources/api/resource.js';
import type { ResourceClassInfo } from '../../../src/shared/storage-resources/session.js';
import { openStore } from './fixtures.js';

const Ctrl = defineResource({
  name: 'Ctrl',
  extends: ScannableResource,
  identifier: GlobalId('address'),
  attributes: { address: attributes.Hostname() },
});
const Disk = defineResource({
  name: 'Disk',
  identifier: GlobalId('serial'),
  attributes: { serial: attributes.String(), status: attributes.Enum(['OK', 'FAILED']) },
  alertConditions: [ValueCondition('status', { errorStates: ['FAILED'], message: 'Disk failed' })],
});
const Lun = defineResource({
  name: 'Lun',
  identifier: ScopedId('lun_id'),
  attributes: {
    lun_id: attributes.String(),
    serial: attributes.String(),
    disk: attributes.ResourceReference(),
  },
  relations: [Provide(['linux', 'ScsiDevice'], 'serial', { ignorecase: true })],
});
const ScsiDevice = defineResource({
  name: 'ScsiDevice',
  identifier: GlobalId('serial'),
  attributes: { serial: attributes.String() },
});
const HostRoot = defineResource({
  name: 'HostRoot',
  identifier: GlobalId('host_id'),
  attributes: { host_id: attributes.Integer() },
});

/** What the loader will produce: ResourceClassInfo per class, a Provide resolved to a Subscribe. */
function describe(plugin: string, k: AnyResourceClass, scannable = false): ResourceClassInfo {
  const m = k.meta;
  return {
    plugin,
    name: m.name,
    label: m.label,
    identifier: { kind: m.identifier!.kind, attributes: [...m.identifier!.attributes] },
    attributes: Object.fromEntries(
      Object.entries(m.attributes as Record<string, ResourceAttribute>).map(([n, a]) => [n, a.info(n)]),
    ),
    alertClasses: [...m.alertClasses],
    subscribes: [],
    statistics: {},
    scannable,
  };
}
const CLASSES: ResourceClassInfo[] = [
  describe('ctrl', Ctrl, true),
  describe('ctrl', Disk),
  describe('ctrl', Lun),
  {
    ...describe('linux', ScsiDevice),
    subscribes: [{ to: { plugin: 'ctrl', name: 'Lun' }, attributes: ['serial'], ignorecase: true }],
  },
  describe('linux', HostRoot),
];

/** The "device": what the controller reports at each scan. */
const device = {
  reachable: true,
  disks: new Map<string, 'OK' | 'FAILED'>([
    ['SN1', 'OK'],
    ['SN2', 'OK'],
  ]),
};

class CtrlPlugin extends Plugin {
  private disks = new Map<string, Resource>();
  override initialScan(root: Resource) {
    if (!device.reachable) throw new Error('controller not reachable');
    this.scan(root);
    const { resource: disk } = this.updateOrCreate(
      Disk,
      { serial: 'SN1', status: device.disks.get('SN1')! },
      [root],
    );
    this.updateOrCreate(Lun, { lun_id: 'L1', serial: 'sn1-lun', disk }, [disk]);
  }
  override updateScan(root: Resource) {
    if (!device.reachable) throw new Error('controller not reachable');
    this.scan(root);
  }
  private scan(root: Resource) {
    for (const [serial, status] of device.disks) {
      const { resource } = this.updateOrCreate(Disk, { serial, status }, [root]);
      this.disks.set(serial, resource);
    }
    for (const [serial, r] of this.disks)
      if (!device.disks.has(serial)) {
        this.remove(r);
        this.disks.delete(serial);
      }
  }
}

class HostPlugin extends Plugin {
  override initialScan(root: Resource) {
    this.updateOrCreate(ScsiDevice, { serial: 'SN1-LUN' }, [root]);
  }
}

test('a plugin written with the API feeds the store through a whole session life', async (t) => {
  const { store, q, events } = openStore(t);
  const ctx = (root: string, rootResource: Resource, pluginName: string): PluginContext => ({
    sink: store,
    root,
    rootResource,
    classes: CLASSES,
    pluginName,
  });
  const rootResource = new Ctrl({ address: 'ctrl.example' });
  let p = new CtrlPlugin(ctx('ctrl-1', rootResource, 'ctrl'));
  await p.doInitialScan();
  const disks = () =>
    q
      .resourcesOfClass('ctrl.Disk')
      .map((r) => q.resource(r.id)!.attributes.serial)
      .sort();
  assert.deepEqual(disks(), ['SN1', 'SN2']);
  const ctrlId = q.rootRecord('ctrl-1')!;
  assert.equal(q.resource(ctrlId)!.label, 'Ctrl ctrl.example');
  const lun = q.resourcesOfClass('ctrl.Lun')[0].id;
  const sn1 = q.resourcesOfClass('ctrl.Disk').find((r) => r.label === 'Disk SN1')!.id;
  assert.deepEqual(q.resource(lun)!.attributes.disk, { record: sn1 });
  assert.deepEqual(q.parents(lun), [sn1]);

  // The host's Linux plugin reports the SCSI device: the LUN provides to it (ignorecase).
  const host = new HostPlugin(ctx('host-1', new HostRoot({ host_id: 1 }), 'linux'));
  await host.doInitialScan();
  const scsi = q.resourcesOfClass('linux.ScsiDevice')[0].id;
  assert.deepEqual(q.whatProvides(scsi), [lun]);
  assert.ok(q.descendants(sn1).includes(scsi), 'disk → LUN → SCSI device');

  // A disk fails: the alert reaches the LUN and the SCSI device.
  device.disks.set('SN1', 'FAILED');
  await p.doPeriodicUpdate();
  assert.equal(q.resource(sn1)!.attributes.status, 'FAILED');
  assert.deepEqual(
    q.activeAlerts(scsi).map((a) => [a.message, a.propagated]),
    [['Disk failed (Disk Disk SN1)', true]],
  );

  // A disk disappears: removed at the next commit.
  device.disks.delete('SN2');
  await p.doPeriodicUpdate();
  assert.deepEqual(disks(), ['SN1']);

  // The controller stops answering: the loop tears down and reports offline; the restart's
  // initial scan does not lower it, its first update scan does.
  device.reachable = false;
  await assert.rejects(p.doPeriodicUpdate(), /not reachable/);
  await p.doTeardown();
  await store.sessionOffline('ctrl-1', 'controller not reachable');
  assert.equal(q.alerts({ active: true, root: 'ctrl-1' }).filter((a) => a.kind === 'offline').length, 1);
  device.reachable = true;
  p = new CtrlPlugin(ctx('ctrl-1', rootResource, 'ctrl'));
  await p.doInitialScan();
  assert.equal(q.alerts({ active: true, root: 'ctrl-1' }).filter((a) => a.kind === 'offline').length, 1);
  device.disks.set('SN1', 'OK');
  await p.doPeriodicUpdate();
  assert.equal(q.alerts({ active: true }).length, 0, 'offline lowered, disk alert cleared');
  assert.ok(events.some((e) => e.message === 'Re-established contact with Ctrl ctrl.example'));
  assert.ok(events.some((e) => e.message === 'Cleared storage alert: Disk failed (Disk Disk SN1)'));
});
