// message.*: alerts attached to objects (VM, host, SR, pool…). Stored like other objects; the
// class has explicit (not implicit) getters in the datamodel.
import { XenApiError } from '../../shared/errors.js';
import { compileWhere, parseWhere } from '../db/where.js';
import type { Row } from '../db/database.js';
import { nowXapi, parseXapiTime } from '../time.js';
import type { CallContext, HandlerTable } from './context.js';

/**
 * cls enum value → the datamodel class whose uuid obj_uuid names. Exactly xapi's `cls` enum:
 * messages about anything else (a PIF, a VIF...) go to the object xapi files them under.
 */
const CLS_TABLE = {
  VM: 'VM',
  Host: 'host',
  SR: 'SR',
  Pool: 'pool',
  VMPP: 'VMPP',
  VMSS: 'VMSS',
  PVS_proxy: 'PVS_proxy',
  VDI: 'VDI',
  Certificate: 'Certificate',
} as const;

/** The classes a message can be about (xapi's `cls` enum). */
export type MessageClass = keyof typeof CLS_TABLE;

const isMessageClass = (cls: string): cls is MessageClass => Object.hasOwn(CLS_TABLE, cls);

export function createMessage(
  ctx: Pick<CallContext, 'svc'>,
  name: string,
  priority: number,
  cls: MessageClass,
  objUuid: string,
  body: string,
) {
  if (!ctx.svc.db.refByUuid(CLS_TABLE[cls], objUuid)) throw new XenApiError('UUID_INVALID', [cls, objUuid]);
  return ctx.svc.db.create('message', { name, priority, cls, obj_uuid: objUuid, timestamp: nowXapi(), body });
}

const all = (ctx: CallContext) => ctx.svc.db.all('message');
const records = (entries: Iterable<[string, Row]>) => {
  const out: Record<string, Row> = {};
  for (const [ref, row] of entries) out[ref] = { ...row };
  return out;
};
const since = (row: Row, t: number) => parseXapiTime(String(row.timestamp)) > t;

export const messageApi: HandlerTable = {
  handlers: {
    'message.create': (ctx, name, priority, cls, objUuid, body) => {
      if (!isMessageClass(cls)) throw new XenApiError('UUID_INVALID', [cls, objUuid]);
      return createMessage(ctx, name, priority, cls, objUuid, body);
    },
    'message.destroy': (ctx, self) => {
      ctx.svc.db.mustGet('message', self);
      ctx.svc.db.destroy('message', self);
    },
    'message.destroy_many': (ctx, refs) => {
      for (const r of refs) ctx.svc.db.mustGet('message', r);
      ctx.svc.db.transaction(() => {
        for (const r of refs) ctx.svc.db.destroy('message', r);
      });
    },
    'message.get': (ctx, cls, objUuid, t) =>
      records(
        [...all(ctx)].filter(
          ([, r]) => r.cls === cls && r.obj_uuid === objUuid && since(r, parseXapiTime(t)),
        ),
      ),
    'message.get_all': (ctx) => [...all(ctx).keys()],
    'message.get_since': (ctx, t) => records([...all(ctx)].filter(([, r]) => since(r, parseXapiTime(t)))),
    'message.get_record': (ctx, self) => ({ ...ctx.svc.db.mustGet('message', self) }),
    'message.get_by_uuid': (ctx, uuid) => {
      const ref = ctx.svc.db.refByUuid('message', uuid);
      if (!ref) throw new XenApiError('UUID_INVALID', ['message', uuid]);
      return ref;
    },
    'message.get_all_records': (ctx) => records(all(ctx)),
    'message.get_all_records_where': (ctx, expr) => {
      const pred = compileWhere(parseWhere(expr));
      return records(
        [...all(ctx)].filter(([, r]) => pred((col) => (r[col] === undefined ? undefined : String(r[col])))),
      );
    },
  },
};
