// Alerts on records (reference §7): a plugin's alert condition raised on a record and propagated
// to every descendant, lowered (kept as history) when the condition ends or the record goes; and
// a root's offline alert. Each raise/lower queues an AlertEvent for the store's callback.
import type { AlertClassInfo, AlertSeverity } from '../../shared/storage-resources/session.js';
import {
  clearedMessage,
  conditionMessage,
  OFFLINE_ALERT_CLASS,
  OFFLINE_SEVERITY,
  offlineMessage,
  reconnectedMessage,
} from './alert-messages.js';
import type { CallContext } from './context.js';
import { descendantIds } from './edges.js';
import type { AlertRow as StoredAlertRow } from './queries.js';
import { aliasOrLabel, classOfRecord, getRecord } from './records.js';

/** The columns of a _resource_alert row read here (ALERT_COLUMNS). */
type AlertRow = Pick<
  StoredAlertRow,
  'id' | 'record_id' | 'root' | 'kind' | 'alert_class' | 'severity' | 'message'
>;

const ALERT_COLUMNS = 'id, record_id, root, kind, alert_class, severity, message';

function insertAlert(ctx: CallContext, a: Omit<AlertRow, 'id'> & { attribute: string | null }): number {
  return ctx.sql.run(
    `INSERT INTO _resource_alert (record_id, root, kind, alert_class, attribute, severity, message, active, raised_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)`,
    a.record_id,
    a.root,
    a.kind,
    a.alert_class,
    a.attribute,
    a.severity,
    a.message,
    ctx.now,
  ).lastId;
}

/** Lowers an active alert: inactive (history), propagation rows gone, event queued. */
function lower(ctx: CallContext, a: AlertRow, endMessage: string): void {
  ctx.sql.run('UPDATE _resource_alert SET active = 0, lowered_at = ? WHERE id = ?', ctx.now, a.id);
  ctx.sql.run('DELETE FROM _resource_alert_propagated WHERE alert_id = ?', a.id);
  ctx.events.push({
    kind: 'lowered',
    alertId: a.id,
    alertType: a.kind,
    alertClass: a.alert_class,
    severity: a.severity,
    message: endMessage,
    alertMessage: a.message,
    resourceId: a.record_id,
    root: a.root,
    propagatedTo: [],
    at: ctx.now,
  });
}

/** Raises the condition alert on `recordId` unless already active, propagated to its descendants. */
export function raiseConditionAlert(
  ctx: CallContext,
  root: string,
  recordId: number,
  info: AlertClassInfo,
  severity: AlertSeverity,
): void {
  const active = ctx.sql.get(
    'SELECT id FROM _resource_alert WHERE record_id = ? AND alert_class = ? AND active = 1',
    recordId,
    info.alertClass,
  );
  if (active) return;
  const rec = getRecord(ctx.sql, recordId)!;
  const cls = classOfRecord(ctx, rec);
  const message = conditionMessage(info.message, cls.label, aliasOrLabel(rec));
  const id = insertAlert(ctx, {
    record_id: recordId,
    root,
    kind: 'condition',
    alert_class: info.alertClass,
    attribute: info.attribute,
    severity,
    message,
  });
  const below = descendantIds(ctx.sql, recordId);
  for (const d of below)
    ctx.sql.run('INSERT INTO _resource_alert_propagated (alert_id, record_id) VALUES (?, ?)', id, d);
  ctx.events.push({
    kind: 'raised',
    alertId: id,
    alertType: 'condition',
    alertClass: info.alertClass,
    severity,
    message,
    alertMessage: message,
    resourceId: recordId,
    root,
    propagatedTo: below,
    at: ctx.now,
  });
}

export function lowerConditionAlert(ctx: CallContext, recordId: number, alertClass: string): void {
  const a = ctx.sql.get<AlertRow>(
    `SELECT ${ALERT_COLUMNS} FROM _resource_alert WHERE record_id = ? AND alert_class = ? AND active = 1`,
    recordId,
    alertClass,
  );
  if (a) lower(ctx, a, clearedMessage(a.message));
}

/** The deletion cascade's part: every active alert of `recordId` lowered, its propagations gone. */
export function retireAlertsOf(ctx: CallContext, recordId: number): void {
  for (const a of ctx.sql.all<AlertRow>(
    `SELECT ${ALERT_COLUMNS} FROM _resource_alert WHERE record_id = ? AND active = 1 ORDER BY id`,
    recordId,
  ))
    lower(ctx, a, clearedMessage(a.message));
  ctx.sql.run('DELETE FROM _resource_alert_propagated WHERE record_id = ?', recordId);
}

/** How a root is named in its offline alert: its record's alias or label, else the root itself. */
export function rootName(ctx: CallContext, root: string): { name: string; recordId: number | null } {
  const r = ctx.sql.get<{ record_id: number }>('SELECT record_id FROM _resource_root WHERE root = ?', root);
  const rec = r ? getRecord(ctx.sql, r.record_id) : undefined;
  return rec ? { name: aliasOrLabel(rec), recordId: rec.id } : { name: root, recordId: null };
}

export function raiseOfflineAlert(ctx: CallContext, root: string, reason: string): void {
  const active = ctx.sql.get(
    "SELECT id FROM _resource_alert WHERE root = ? AND kind = 'offline' AND active = 1",
    root,
  );
  if (active) return;
  const { name, recordId } = rootName(ctx, root);
  const message = offlineMessage(name);
  const id = insertAlert(ctx, {
    record_id: recordId,
    root,
    kind: 'offline',
    alert_class: OFFLINE_ALERT_CLASS,
    attribute: null,
    severity: OFFLINE_SEVERITY,
    message,
  });
  ctx.events.push({
    kind: 'raised',
    alertId: id,
    alertType: 'offline',
    alertClass: OFFLINE_ALERT_CLASS,
    severity: OFFLINE_SEVERITY,
    message,
    alertMessage: message,
    resourceId: recordId,
    root,
    propagatedTo: [],
    reason,
    at: ctx.now,
  });
}

/** A deleted root's offline alert ends with it (cleared, not "re-established"). */
export function retireOfflineAlert(ctx: CallContext, root: string): void {
  const a = ctx.sql.get<AlertRow>(
    `SELECT ${ALERT_COLUMNS} FROM _resource_alert WHERE root = ? AND kind = 'offline' AND active = 1`,
    root,
  );
  if (a) lower(ctx, a, clearedMessage(a.message));
}

export function lowerOfflineAlert(ctx: CallContext, root: string): void {
  const a = ctx.sql.get<AlertRow>(
    `SELECT ${ALERT_COLUMNS} FROM _resource_alert WHERE root = ? AND kind = 'offline' AND active = 1`,
    root,
  );
  if (a) lower(ctx, a, reconnectedMessage(rootName(ctx, root).name));
}
