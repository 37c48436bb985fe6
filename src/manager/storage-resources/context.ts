// What one session call works with: the SQL connection inside its transaction, the in-memory
// state it may change (each change pushes its undo, run if the transaction does not commit), and
// the alert events to publish once it has committed.
import type { AlertSeverity, ResourceClassInfo } from '../../shared/storage-resources/session.js';
import type { ResourceSql } from './sql.js';

/** Raised or lowered alert, handed to the store's alert callback after the commit. */
export interface AlertEvent {
  kind: 'raised' | 'lowered';
  alertId: number;
  /** 'condition': a plugin's alert condition; 'offline': the root stopped answering. */
  alertType: 'condition' | 'offline';
  alertClass: string;
  severity: AlertSeverity;
  /** The alert's text; for a lowered alert, the text of the end event (`Cleared storage alert: …`). */
  message: string;
  /** The alert's own text (same as `message` when raised). */
  alertMessage: string;
  /** The record the alert is on (null for an offline alert of a root never stored). */
  resourceId: number | null;
  root: string;
  /** Records the alert is propagated to (raised only). */
  propagatedTo: number[];
  /** Why an offline alert was raised (the scan loop's error), for the log. */
  reason?: string;
  at: number;
}

/** A plugin session: its handles ↔ record ids (IML's PluginSession). */
export interface Session {
  root: string;
  handleToId: Map<number, number>;
  idToHandle: Map<number, number>;
  updatePeriodS: number;
  /** Set by sessionOpen; the first update round after it lowers the root's offline alert. */
  awaitingFirstUpdate: boolean;
}

export interface StoreState {
  sessions: Map<string, Session>;
  classes: Map<string, ResourceClassInfo>;
}

export interface CallContext {
  sql: ResourceSql;
  state: StoreState;
  now: number;
  undo: (() => void)[];
  events: AlertEvent[];
}

export function mapHandle(ctx: CallContext, s: Session, handle: number, id: number): void {
  s.handleToId.set(handle, id);
  s.idToHandle.set(id, handle);
  ctx.undo.push(() => {
    s.handleToId.delete(handle);
    s.idToHandle.delete(id);
  });
}

/** Forgets deleted records in every session's maps. */
export function unmapRecords(ctx: CallContext, ids: Iterable<number>): void {
  for (const id of ids) {
    for (const s of ctx.state.sessions.values()) {
      const h = s.idToHandle.get(id);
      if (h === undefined) continue;
      s.idToHandle.delete(id);
      s.handleToId.delete(h);
      ctx.undo.push(() => {
        s.idToHandle.set(id, h);
        s.handleToId.set(h, id);
      });
    }
  }
}

export function setSession(ctx: CallContext, root: string, s: Session | undefined): void {
  const before = ctx.state.sessions.get(root);
  if (s) ctx.state.sessions.set(root, s);
  else ctx.state.sessions.delete(root);
  ctx.undo.push(() => {
    if (before) ctx.state.sessions.set(root, before);
    else ctx.state.sessions.delete(root);
  });
}
