// Which exports a connection may open, from the database: the TLS mode (networks' purposes, read
// at each connection as xapi-nbd does) and the export name `/<vdi uuid>?session_id=<ref>` checked
// against the session (valid, and its role may call VDI.get_nbd_info: the roles xapi-nbd's own
// VBD.create/plug need) and the VDI (exists, not cbt_metadata).
import type { Services } from '../api/context.js';
import { checkPermission, requiredPermission } from '../auth/rbac.js';
import type { Database } from '../db/database.js';
import { Rep } from './protocol.js';
import { type AuthorizedExport, ExportRefused, type NbdMode } from './server.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_EXPORT_NAME = 4096;

/** xapi-nbd's rule: `nbd` → TLS, `insecure_nbd` → plain; neither, or both: no connection. */
export function nbdMode(db: Database): NbdMode {
  const purposes = new Set<string>();
  for (const n of db.all('network').values()) for (const p of (n.purpose as string[]) ?? []) purposes.add(p);
  const tls = purposes.has('nbd');
  const plain = purposes.has('insecure_nbd');
  if (tls && plain)
    return {
      kind: 'refuse',
      reason: 'contradictory configuration: networks with purposes nbd and insecure_nbd',
    };
  if (tls) return { kind: 'tls' };
  if (plain) return { kind: 'plain' };
  return { kind: 'refuse', reason: 'NBD is off: no network has purpose nbd or insecure_nbd' };
}

/** The VDI uuid and session ref of an export name; throws ExportRefused for anything else. */
export function parseExportName(name: string): { vdiUuid: string; session: string } {
  if (name.length > MAX_EXPORT_NAME) throw new ExportRefused(Rep.ERR_UNKNOWN, 'export name too long');
  let url: URL;
  try {
    url = new URL(name, 'nbd://host');
  } catch {
    throw new ExportRefused(Rep.ERR_UNKNOWN, 'export name is not /<vdi uuid>?session_id=<session ref>');
  }
  const vdiUuid = decodeURIComponent(url.pathname.replace(/^\//, ''));
  const session = url.searchParams.get('session_id');
  if (!name.startsWith('/') || !UUID_RE.test(vdiUuid))
    throw new ExportRefused(Rep.ERR_UNKNOWN, 'export name is not /<vdi uuid>?session_id=<session ref>');
  if (!session) throw new ExportRefused(Rep.ERR_POLICY, 'no session_id in the export name');
  return { vdiUuid: vdiUuid.toLowerCase(), session };
}

/** Checks an export name against sessions, RBAC and the VDIs. */
export function authorizeExport(svc: Services, name: string): AuthorizedExport {
  const { vdiUuid, session } = parseExportName(name);
  let info: ReturnType<Services['sessions']['validate']>;
  try {
    info = svc.sessions.validate(session);
  } catch {
    throw new ExportRefused(Rep.ERR_POLICY, 'SESSION_INVALID: the session_id is not a valid session');
  }
  const msg = svc.db.model.classes.VDI.messages.find((m) => m.name === 'get_nbd_info');
  if (msg)
    try {
      checkPermission(info, requiredPermission(svc.db.model, msg, []));
    } catch {
      throw new ExportRefused(
        Rep.ERR_POLICY,
        `RBAC_PERMISSION_DENIED: the session may not read disks over NBD`,
      );
    }
  const vdi = svc.db.refByUuid('VDI', vdiUuid);
  const row = vdi ? svc.db.get('VDI', vdi) : undefined;
  if (!vdi || !row) throw new ExportRefused(Rep.ERR_UNKNOWN, `no VDI with uuid ${vdiUuid}`);
  if (row.type === 'cbt_metadata')
    throw new ExportRefused(Rep.ERR_UNKNOWN, `VDI ${vdiUuid} holds no data (cbt_metadata)`);
  // xapi-nbd serves every VDI through a read-only VBD.
  return { vdi, readOnly: true };
}
