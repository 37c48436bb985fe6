// The manager's resource store: IML's ResourceManager session API (reference §6–8) on Berth's
// database. Sessions per root live in memory (handle ↔ record maps); everything else is in the
// _resource_* tables, each call one transaction (savepoint), so a SIGKILL leaves the state of the
// last completed call. Calls are serialised; a refused call changes nothing and rejects with a
// ResourceStoreError. Alert raises and lowers reach `onAlert` after their commit.
import { logger } from '../../shared/log.js';
import type {
  AlertState,
  AttributeValue,
  ReportedResource,
  ResourceClassInfo,
  ResourceSessionSink,
  SessionRoot,
} from '../../shared/storage-resources/session.js';
import { lowerConditionAlert, lowerOfflineAlert, raiseConditionAlert, raiseOfflineAlert } from './alerts.js';
import { CallQueue } from './call-queue.js';
import { loadClasses, registerClasses } from './class-registry.js';
import { type AlertEvent, type CallContext, type Session, type StoreState, setSession } from './context.js';
import { cullUnreported } from './cull.js';
import { deleteRecords, deleteRoot, dropReporter } from './delete-cascade.js';
import { addParentEdge, removeParentEdge } from './edges.js';
import { ResourceStoreError } from './errors.js';
import { storageIdString } from './identity.js';
import { persistResources, ROOT_HANDLE, resolveReferences } from './persist.js';
import { ResourceQueries } from './queries.js';
import { classOfRecord, getRecord, setLabel, writeAttributes } from './records.js';
import { checkAndOrderReport, checkAttributes, checkLabel } from './report-check.js';
import { migrateResourceSchema } from './schema.js';
import { type ResourceSql, SqliteResourceSql } from './sql.js';
import { recordSamples } from './statistics.js';

const log = logger('storage-resources');

export interface ResourceStoreOptions {
  /** Berth's database file (berth.db), or an already open connection. */
  path?: string;
  sql?: ResourceSql;
  /** Every raised or lowered alert, after its commit (the manager turns it into a XenAPI message). */
  onAlert?: (event: AlertEvent) => void;
  /** Epoch seconds (tests pin it). */
  clock?: () => number;
}

export class ResourceStore implements ResourceSessionSink {
  readonly queries: ResourceQueries;
  private readonly sql: ResourceSql;
  private readonly state: StoreState;
  private readonly queue: CallQueue;
  private readonly onAlert?: (event: AlertEvent) => void;

  constructor(opts: ResourceStoreOptions) {
    if (!opts.sql && !opts.path) throw new Error('ResourceStore needs a path or a connection');
    this.sql = opts.sql ?? new SqliteResourceSql(opts.path!);
    migrateResourceSchema(this.sql);
    this.state = { sessions: new Map(), classes: loadClasses(this.sql) };
    this.onAlert = opts.onAlert;
    this.queries = new ResourceQueries(this.sql);
    this.queue = new CallQueue(this.sql, this.state, opts.clock ?? (() => Date.now() / 1000), (events) =>
      this.publish(events),
    );
  }

  private publish(events: AlertEvent[]) {
    for (const e of events) {
      if (e.reason) log.warn('storage resource root offline', { root: e.root, reason: e.reason });
      try {
        this.onAlert?.(e);
      } catch (error) {
        log.error('alert callback failed', { error: String(error) });
      }
    }
  }

  /** Open sessions' roots (for tests and diagnostics). */
  openSessions(): string[] {
    return [...this.state.sessions.keys()];
  }

  close(): void {
    this.sql.close();
  }

  // ---------- the session API ----------

  sessionOpen(
    root: SessionRoot,
    classes: ResourceClassInfo[],
    resources: ReportedResource[],
    updatePeriodS: number,
  ) {
    return this.queue.enqueue((ctx) => {
      registerClasses(ctx, classes);
      const ordered = checkAndOrderReport(
        resources,
        (n) => ctx.state.classes.get(n),
        () => false,
      );
      const s: Session = {
        root,
        handleToId: new Map(),
        idToHandle: new Map(),
        updatePeriodS,
        awaitingFirstUpdate: true,
      };
      setSession(ctx, root, s);
      const ids = persistResources(ctx, s, ordered);
      cullUnreported(ctx, root, new Set(ids));
    });
  }

  sessionAddResources(root: SessionRoot, resources: ReportedResource[]) {
    return this.queue.enqueue((ctx) => {
      const s = mustSession(ctx, root);
      const ordered = checkAndOrderReport(
        resources,
        (n) => ctx.state.classes.get(n),
        (h) => s.handleToId.has(h),
      );
      persistResources(ctx, s, ordered);
      updateRound(ctx, s);
    });
  }

  sessionUpdateResource(
    root: SessionRoot,
    handle: number,
    attributes: Record<string, AttributeValue>,
    statistics?: ReportedResource['statistics'],
    label?: string,
  ) {
    return this.queue.enqueue((ctx) => {
      const s = mustSession(ctx, root);
      const id = mustRecord(s, handle);
      const rec = getRecord(ctx.sql, id)!;
      const cls = classOfRecord(ctx, rec);
      checkAttributes(cls, handle, attributes, (h) => s.handleToId.has(h));
      checkLabel(handle, label);
      writeAttributes(ctx.sql, id, resolveReferences(s, attributes));
      if (label !== undefined && label !== rec.label) setLabel(ctx, id, label);
      recordSamples(ctx, id, statistics);
      updateRound(ctx, s);
    });
  }

  sessionResourceAddParent(root: SessionRoot, child: number, parent: number) {
    return this.queue.enqueue((ctx) => {
      const s = mustSession(ctx, root);
      if (child === parent) throw new ResourceStoreError(`resource ${child} cannot be its own parent`);
      addParentEdge(ctx.sql, mustRecord(s, child), mustRecord(s, parent), 'fail');
      updateRound(ctx, s);
    });
  }

  sessionResourceRemoveParent(root: SessionRoot, child: number, parent: number) {
    return this.queue.enqueue((ctx) => {
      const s = mustSession(ctx, root);
      removeParentEdge(ctx.sql, mustRecord(s, child), mustRecord(s, parent));
      updateRound(ctx, s);
    });
  }

  sessionRemoveLocalResources(root: SessionRoot, handles: number[]) {
    return this.queue.enqueue((ctx) => {
      const s = mustSession(ctx, root);
      deleteRecords(
        ctx,
        handles.map((h) => mustRecord(s, h)),
      );
      updateRound(ctx, s);
    });
  }

  sessionRemoveGlobalResources(root: SessionRoot, handles: number[]) {
    return this.queue.enqueue((ctx) => {
      const s = mustSession(ctx, root);
      const ids = handles.map((h) => mustRecord(s, h));
      for (const id of ids) if (!dropReporter(ctx, root, id)) unmapFromSession(ctx, s, id);
      updateRound(ctx, s);
    });
  }

  sessionNotifyAlert(root: SessionRoot, handle: number, state: AlertState) {
    return this.queue.enqueue((ctx) => {
      const s = mustSession(ctx, root);
      const id = mustRecord(s, handle);
      const cls = classOfRecord(ctx, getRecord(ctx.sql, id)!);
      const info = cls.alertClasses.find((a) => a.alertClass === state.alertClass);
      if (!info)
        throw new ResourceStoreError(
          `class ${cls.plugin}.${cls.name} has no alert class ${state.alertClass}`,
        );
      if (state.active) raiseConditionAlert(ctx, root, id, info, state.severity);
      else lowerConditionAlert(ctx, id, state.alertClass);
    });
  }

  sessionOffline(root: SessionRoot, reason: string) {
    return this.queue.enqueue((ctx) => raiseOfflineAlert(ctx, root, reason));
  }

  sessionClose(root: SessionRoot) {
    return this.queue.enqueue((ctx) => {
      if (ctx.state.sessions.has(root)) setSession(ctx, root, undefined);
    });
  }

  /**
   * An update round finished (one that changed nothing makes no other call): the first after an
   * open lowers the offline alert, as any update call does (an extension of IML's API).
   */
  sessionUpdateDone(root: SessionRoot) {
    return this.queue.enqueue((ctx) => updateRound(ctx, mustSession(ctx, root)));
  }

  // ---------- what the user or the manager asks for ----------

  /** Sets (or clears, null) the name a user gave a resource; alert texts use it from then on. */
  setAlias(id: number, alias: string | null): Promise<void> {
    return this.queue.enqueue((ctx) => {
      if (!getRecord(ctx.sql, id)) throw new ResourceStoreError(`no resource ${id}`);
      ctx.sql.run('UPDATE _resource_record SET alias = ? WHERE id = ?', alias, id);
    });
  }

  /**
   * Stores a root a user adds for a controller plugin (IML's create of a ScannableResource): its
   * record and `_resource_root` row, no session (the scan daemon opens one when it finds the
   * root). Refuses a class not registered or not scannable, a ScopedId class, a reference, a root
   * name already used and an identity already stored (a second root for the same device).
   */
  createRoot(
    root: SessionRoot,
    classes: ResourceClassInfo[],
    cls: string,
    attributes: Record<string, string | number | boolean | null>,
  ): Promise<number> {
    return this.queue.enqueue((ctx) => {
      if (ctx.state.sessions.has(root) || this.queries.rootRecord(root) !== undefined)
        throw new ResourceStoreError(`root ${root} already exists`);
      registerClasses(ctx, classes);
      const info = ctx.state.classes.get(cls);
      if (!info) throw new ResourceStoreError(`class ${cls} is not declared`);
      if (!info.scannable) throw new ResourceStoreError(`${cls} is not a scannable resource class`);
      const report = { handle: ROOT_HANDLE, class: cls, attributes, parents: [] };
      checkAndOrderReport(
        [report],
        (n) => ctx.state.classes.get(n),
        () => false,
      );
      const storageId = storageIdString(info, attributes);
      if (
        ctx.sql.get(
          "SELECT id FROM _resource_record WHERE class = ? AND storage_id = ? AND scope = ''",
          cls,
          storageId,
        )
      )
        throw new ResourceStoreError(`a ${cls} with identifier ${storageId} already exists`);
      const s: Session = {
        root,
        handleToId: new Map(),
        idToHandle: new Map(),
        updatePeriodS: 0,
        awaitingFirstUpdate: true,
      };
      return persistResources(ctx, s, [report])[0];
    });
  }

  /** Deletes a root (scannable removed, host gone) with its scope and the globals only it reported. */
  removeRoot(root: SessionRoot): Promise<number[]> {
    return this.queue.enqueue((ctx) => deleteRoot(ctx, root));
  }

  /** Deletes one record with the deletion cascade (IML's global_remove_resource). */
  removeResource(id: number): Promise<number[]> {
    return this.queue.enqueue((ctx) => {
      if (!getRecord(ctx.sql, id)) throw new ResourceStoreError(`no resource ${id}`);
      return deleteRecords(ctx, [id]);
    });
  }
}

function mustSession(ctx: CallContext, root: string): Session {
  const s = ctx.state.sessions.get(root);
  if (!s) throw new ResourceStoreError(`no open session for root ${root}`);
  return s;
}

function mustRecord(s: Session, handle: number): number {
  const id = s.handleToId.get(handle);
  if (id === undefined) throw new ResourceStoreError(`unknown handle ${handle} in the session of ${s.root}`);
  return id;
}

function unmapFromSession(ctx: CallContext, s: Session, id: number) {
  const h = s.idToHandle.get(id);
  if (h === undefined) return;
  s.idToHandle.delete(id);
  s.handleToId.delete(h);
  ctx.undo.push(() => {
    s.idToHandle.set(id, h);
    s.handleToId.set(h, id);
  });
}

/** The first update round after an open lowers the root's offline alert (IML's anti-flapping). */
function updateRound(ctx: CallContext, s: Session) {
  if (!s.awaitingFirstUpdate) return;
  s.awaitingFirstUpdate = false;
  ctx.undo.push(() => {
    s.awaitingFirstUpdate = true;
  });
  lowerOfflineAlert(ctx, s.root);
}
