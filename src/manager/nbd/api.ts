// VDI.get_nbd_info (nbd-info.ts); network purposes are checked by the setter rules
// (validation/setter-rules.ts, network.add_purpose).
import type { HandlerTable } from '../api/context.js';
import { nbdInfo } from './nbd-info.js';

export const nbdApi: HandlerTable = {
  handlers: {
    'VDI.get_nbd_info': (ctx, vdi) => {
      const { nbd, db } = ctx.svc;
      if (!nbd) {
        db.mustGet('VDI', vdi);
        return []; // no NBD server on any host: nothing to offer
      }
      return nbdInfo(db, vdi, ctx.session.ref, nbd.certificateOf).map((r) => ({ ...r, port: nbd.port }));
    },
  },
};
