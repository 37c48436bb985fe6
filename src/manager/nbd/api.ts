// VDI.get_nbd_info (nbd-info.ts); network purposes are checked by the setter rules
// (validation/setter-rules.ts, network.add_purpose).
import type { HandlerTable } from '../api/context.js';
import { nbdInfo, servingHosts } from './nbd-info.js';
import { fetchMemberCertificates } from './pool.js';

export const nbdApi: HandlerTable = {
  handlers: {
    'VDI.get_nbd_info': async (ctx, vdi) => {
      const { nbd, db } = ctx.svc;
      if (!nbd) {
        db.mustGet('VDI', vdi);
        return []; // no NBD server on any host: nothing to offer
      }
      await fetchMemberCertificates(ctx.svc, servingHosts(db, vdi));
      return nbdInfo(db, vdi, ctx.session.ref, nbd.certificateOf).map((r) => ({ ...r, port: nbd.port }));
    },
  },
};
