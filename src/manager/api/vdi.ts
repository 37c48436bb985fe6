// VDI.*: create/destroy/resize/clone/snapshot/copy on real images through the storage agent,
// introduce/forget/update of records, and the explicit setters.
import { randomUUID } from 'node:crypto';
import { NULL_REF } from '../../shared/datamodel/types.js';
import { XenApiError } from '../../shared/errors.js';
import {
  attachedSr,
  attachedVbds,
  driverInfoOf,
  isNull,
  refreshVdiOps,
  vdiFields,
} from '../storage/records.js';
import { dataDestroy, disableCbt, enableCbt, listChangedBlocks } from '../storage/cbt.js';
import { liveHolder, liveSnapshotVdis } from '../storage/live-snapshot.js';
import { storageOf } from '../storage/sr-host.js';
import { cloneVdi, copyVdi, createVdi, destroyVdi, resizeVdi } from '../storage/vdi-ops.js';
import type { Row } from '../db/database.js';
import { createRecord } from './implicit.js';
import { setterRule } from '../validation/setter-rules.js';
import { checkSetter } from './setters.js';
import type { CallContext, HandlerTable } from './context.js';

const taskOf = (ctx: CallContext) => ctx.task?.ref ?? `OpaqueRef:${randomUUID()}`;

const setter = (field: string) => (ctx: CallContext, vdi: string, value: unknown) => {
  ctx.svc.db.mustGet('VDI', vdi);
  const wire = `VDI.set_${field}`;
  if (setterRule(wire)) checkSetter(ctx, wire, vdi, [value]); // setter-rules.ts
  ctx.svc.db.update('VDI', vdi, { [field]: value });
  refreshVdiOps(ctx.svc, vdi);
};

export const vdiApi: HandlerTable = {
  handlers: {
    'VDI.create': (ctx, rec) => {
      const f = createRecord(ctx.svc.db, ctx.svc.db.classSpec('VDI'), rec);
      ctx.svc.db.mustGet('SR', String(f.SR));
      return createVdi(ctx.svc, f as never);
    },
    'VDI.destroy': (ctx, vdi) => destroyVdi(ctx.svc, vdi, taskOf(ctx)),
    'VDI.resize': (ctx, vdi, size) => resizeVdi(ctx.svc, vdi, size, taskOf(ctx)),
    // xapi's older online variant: the same operation (online when the VDI is attached).
    'VDI.resize_online': (ctx, vdi, size) => resizeVdi(ctx.svc, vdi, size, taskOf(ctx)),
    // driver_params are SM-driver hints (xapi passes them through); Berth's drivers take none.
    'VDI.clone': (ctx, vdi, _driverParams) => cloneVdi(ctx.svc, vdi, 'clone', taskOf(ctx)),
    'VDI.snapshot': async (ctx, vdi, _driverParams) => {
      ctx.svc.db.mustGet('VDI', vdi);
      // A disk a running VM writes is snapshotted through its QEMU (storage/live-snapshot.ts).
      const holder = liveHolder(ctx.svc, vdi);
      if (!holder) return cloneVdi(ctx.svc, vdi, 'snapshot', taskOf(ctx));
      const live = await liveSnapshotVdis(ctx.svc, holder.vm, [vdi], taskOf(ctx));
      return live.snapshots.get(vdi)!;
    },
    'VDI.copy': (ctx, vdi, sr, base, into) => {
      ctx.svc.db.mustGet('VDI', vdi);
      if (!isNull(base)) ctx.svc.db.mustGet('VDI', base);
      if (!isNull(into)) {
        // Copying into an existing VDI (incremental copies) is not supported by the drivers yet.
        const target = ctx.svc.db.mustGet('VDI', into);
        throw new XenApiError('SR_OPERATION_NOT_SUPPORTED', [String(target.SR)]);
      }
      return copyVdi(ctx.svc, vdi, isNull(sr) ? undefined : sr, taskOf(ctx));
    },
    'VDI.introduce': async (
      ctx,
      uuid,
      nameLabel,
      nameDescription,
      sr,
      type,
      sharable,
      readOnly,
      otherConfig,
      location,
      xenstoreData,
      smConfig,
      managed,
      virtualSize,
      physicalUtilisation,
      _metadataOfPool,
      isASnapshot,
      snapshotTime,
      snapshotOf,
    ) => {
      const { db } = ctx.svc;
      const srRow = db.mustGet('SR', sr);
      if (!driverInfoOf(ctx.svc, String(srRow.type))?.capabilities.includes('VDI_INTRODUCE'))
        throw new XenApiError('SR_OPERATION_NOT_SUPPORTED', [sr]);
      if (!isNull(snapshotOf)) db.mustGet('VDI', snapshotOf);
      const cfg = attachedSr(ctx.svc, sr);
      const vol = await storageOf(ctx.svc, sr).blockdev_find(cfg, location);
      if (!vol) throw new XenApiError('VDI_MISSING', [sr, location]);
      const extra: Row = {
        uuid: uuid || randomUUID(),
        name_label: nameLabel,
        name_description: nameDescription,
        type,
        sharable,
        read_only: readOnly || vol.readOnly,
        other_config: otherConfig ?? {},
        xenstore_data: xenstoreData ?? {},
        sm_config: smConfig ?? {},
        managed: managed ?? true,
        is_a_snapshot: Boolean(isASnapshot),
        snapshot_of: isNull(snapshotOf) ? NULL_REF : snapshotOf,
      };
      if (snapshotTime) extra.snapshot_time = snapshotTime;
      if (!vol.virtualSize && virtualSize) extra.virtual_size = virtualSize;
      if (!vol.physicalUtilisation && physicalUtilisation) extra.physical_utilisation = physicalUtilisation;
      return db.create('VDI', vdiFields(sr, vol, driverInfoOf(ctx.svc, String(srRow.type)), extra));
    },
    'VDI.forget': (ctx, vdi) => {
      const { db } = ctx.svc;
      db.mustGet('VDI', vdi);
      if (attachedVbds(db, vdi).length) throw new XenApiError('VDI_IN_USE', [vdi, 'forget']);
      db.transaction(() => {
        for (const b of [...(db.get('VDI', vdi)!.VBDs as string[])]) db.destroy('VBD', b);
        db.destroy('VDI', vdi);
      });
    },
    'VDI.update': async (ctx, vdi) => {
      const { db } = ctx.svc;
      const row = db.mustGet('VDI', vdi);
      const cfg = attachedSr(ctx.svc, String(row.SR));
      const vol = await storageOf(ctx.svc, String(row.SR)).blockdev_find(cfg, String(row.location));
      if (!vol) throw new XenApiError('VDI_MISSING', [String(row.SR), vdi]);
      db.update('VDI', vdi, {
        virtual_size: vol.virtualSize,
        physical_utilisation: vol.physicalUtilisation,
        missing: false,
      });
    },
    'VDI.set_sharable': setter('sharable'),
    'VDI.set_read_only': setter('read_only'),
    'VDI.set_name_label': setter('name_label'),
    'VDI.set_name_description': setter('name_description'),
    'VDI.set_on_boot': (ctx, vdi, value) => {
      // xapi: on_boot cannot change while CBT is on (VDI_CBT_ENABLED).
      if (ctx.svc.db.mustGet('VDI', vdi).cbt_enabled) throw new XenApiError('VDI_CBT_ENABLED', [vdi]);
      return setter('on_boot')(ctx, vdi, value);
    },
    // Changed-block tracking (storage/cbt.ts).
    'VDI.enable_cbt': (ctx, vdi) => enableCbt(ctx.svc, vdi, taskOf(ctx)),
    'VDI.disable_cbt': (ctx, vdi) => disableCbt(ctx.svc, vdi, taskOf(ctx)),
    'VDI.list_changed_blocks': (ctx, from, to) => listChangedBlocks(ctx.svc, from, to, taskOf(ctx)),
    'VDI.data_destroy': (ctx, vdi) => dataDestroy(ctx.svc, vdi, taskOf(ctx)),
    'VDI.set_allow_caching': setter('allow_caching'),
  },
};
