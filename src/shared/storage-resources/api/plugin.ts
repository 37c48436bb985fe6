// The plugin base class (IML base_plugin.py; reference §5). Authors implement initialScan (and
// optionally updateScan, agentSessionStart/Continue, teardown) and report resources with
// updateOrCreate/remove; the framework (do* methods) turns what changed into ResourceSessionSink
// calls in IML's order and evaluates alert conditions, sending only alert states that changed.
import { type Logger, logger } from '../../log.js';
import {
  type AlertState,
  type AttributeValue,
  MAX_RESOURCE_LABEL_LENGTH,
  type ReportedResource,
  type ResourceClassInfo,
  type ResourceSessionSink,
  type SessionRoot,
} from '../session.js';
import { isResource, PLUGIN_CLASS_BRAND } from './brands.js';
import { IdentityIndex, type IdentityPlan, identityPlan } from './identity-index.js';
import { pyStr } from './py-format.js';
import {
  type AnyResourceClass,
  classPlugin,
  type Deltas,
  hasOwnLabel,
  hasPendingChanges,
  isUnchangedAssignment,
  type InitOf,
  isResourceClass,
  type Resource,
  STATE,
  setHandle,
} from './resource.js';

/** The Plugin API version this framework implements (a module declares `export const version = 1`). */
export const apiVersion = 1;

/** Seconds between updateScan calls unless the plugin sets `this.updatePeriod` in initialScan. */
export const DEFAULT_UPDATE_PERIOD = 5;

/** What the framework gives a plugin instance: one session for one root. */
export interface PluginContext {
  sink: ResourceSessionSink;
  /** The session's root id (a scannable resource's, or a host's agent root). */
  root: SessionRoot;
  /** The root as a resource (handle 1): a ScannableResource, or linux.PluginAgentResources. */
  rootResource: Resource;
  /** The classes of every loaded plugin, resolved (loader's describeClasses()), sent at session open. */
  classes: ResourceClassInfo[];
  /** The plugin (module) name. */
  pluginName: string;
  log?: Logger;
}

type Partial2<C> = { [K in keyof InitOf<C>]?: InitOf<C>[K] | null };

const ROOT_HANDLE = 1;

export abstract class Plugin {
  static readonly [PLUGIN_CLASS_BRAND] = true;
  /** The resource classes of the plugin; default: every resource class the module exports. */
  static resourceClasses?: readonly AnyResourceClass[];
  /** Hidden from users (as IML's linux plugin). */
  static internal = false;

  /** Seconds between updateScan calls; assign it in initialScan (later assignments are ignored). */
  updatePeriod = DEFAULT_UPDATE_PERIOD;
  /** When false every assignment to an attribute is sent, equal or not. */
  protected calcChangesDelta = true;
  readonly log: Logger;

  readonly #ctx: PluginContext;
  /** The session's resources by identity, in report order (the root first). */
  readonly #index = new IdentityIndex();
  #nextHandle = ROOT_HANDLE + 1;
  /** One closure for every resource of the session (the plugin's switch, read at each assignment). */
  readonly #calcChangesDelta = () => this.calcChangesDelta;
  #newResources: Resource[] = [];
  #deleteLocal: number[] = [];
  #deleteGlobal: number[] = [];
  /** Resources whose class overrides getLabel() → the label last sent (undefined: none yet). */
  readonly #labels = new Map<Resource, string | undefined>();
  readonly #labelFailed = new WeakSet<Resource>();
  /** handle → alert class → last active state sent. */
  readonly #alertStates = new Map<number, Map<string, boolean>>();
  #initialised = false;
  #sessionOpen = false;
  #lock: Promise<unknown> = Promise.resolve();

  constructor(context: PluginContext) {
    this.#ctx = context;
    this.log = context.log ?? logger(`storage_plugin_log_${context.pluginName}`);
    const root = context.rootResource;
    this.#add(root, identityPlan(root.constructor as AnyResourceClass), root.idTuple(true), ROOT_HANDLE);
  }

  // ---- author side ---------------------------------------------------------------------------

  /** Required: report everything under `root` with updateOrCreate; throw if the device cannot be
   * reached (whatever is not reported when this returns is deleted). */
  abstract initialScan(root: Resource): void | Promise<void>;
  /** Called every updatePeriod seconds after initialScan. */
  updateScan(_root: Resource): void | Promise<void> {}
  /** First message of an agent session: a full listing. */
  agentSessionStart(_hostId: number, _data: unknown): void | Promise<void> {}
  /** Later messages of an agent session. */
  agentSessionContinue(_hostId: number, _data: unknown): void | Promise<void> {}
  /** Frees what initialScan allocated; called once initialScan was entered, even after errors. */
  teardown(): void | Promise<void> {}

  /**
   * Reports a resource: updates the one with the same identifier, or creates it.
   * `created` means first reported in this session, not first ever.
   */
  updateOrCreate<C extends AnyResourceClass>(
    klass: C,
    attrs: InitOf<C>,
    parents: readonly Resource[] = [],
  ): { resource: InstanceType<C>; created: boolean } {
    if (!isResourceClass(klass)) throw new Error('updateOrCreate: klass must be a resource class');
    const values = (attrs ?? {}) as Record<string, unknown>;
    for (const p of parents) this.#requireReported(p, 'Parent');
    const plan = identityPlan(klass);
    if (plan.hasReferences) {
      const declared = klass.meta.attributes;
      for (const k in values) {
        if (!Object.hasOwn(values, k)) continue;
        const v = values[k];
        if (declared[k]?.type === 'ResourceReference' && isResource(v))
          this.#requireReported(v as Resource, 'Reference');
      }
    }
    const existing = this.#index.find(plan, values);
    if (existing) {
      // The hot path of a plugin re-reporting everything each scan: unchanged values cost an
      // identity comparison each (resource.ts setAttribute), nothing is allocated but the result.
      const known = existing.meta.attributes;
      for (const k in values) {
        if (!Object.hasOwn(values, k)) continue;
        const v = values[k];
        if (!(k in known)) {
          throw new Error(
            `Unknown attribute ${k} (not one of [${Object.keys(known)
              .map((n) => `'${n}'`)
              .join(', ')}])`,
          );
        }
        // Unchanged: skips the accessor and setAttribute's checks (what they would conclude).
        if (v !== undefined && !isUnchangedAssignment(existing, k, v))
          (existing as unknown as Record<string, unknown>)[k] = v;
      }
      for (const p of parents) {
        if (p === existing) throw new Error('A resource cannot be its own parent');
        existing.addParent(p);
      }
      return { resource: existing as InstanceType<C>, created: false };
    }
    const resource = new klass(values, { parents, calcChangesDelta: this.#calcChangesDelta });
    resource.validate();
    this.#add(resource, plan, this.#index.tupleOf(plan, values), this.#nextHandle++);
    this.#newResources.push(resource);
    return { resource: resource as InstanceType<C>, created: true };
  }

  /** Forgets a resource; it is deleted (or, GlobalId, no longer reported by this root) at the next commit. */
  remove(resource: Resource): void {
    if (!this.#index.delete(resource)) throw new Error('Remove non-existent resource');
    this.#labels.delete(resource);
    const handle = resource[STATE].handle!;
    this.#alertStates.delete(handle);
    const pending = this.#newResources.indexOf(resource);
    if (pending >= 0) {
      // Never sent: nothing for the store to delete.
      this.#newResources.splice(pending, 1);
      return;
    }
    if (resource.meta.identifier?.kind === 'scoped') this.#deleteLocal.push(handle);
    else this.#deleteGlobal.push(handle);
  }

  /** Removes the resource of `klass` with this identifier; false when there is none. */
  removeByAttr<C extends AnyResourceClass>(klass: C, attrs: Partial2<C>): boolean {
    const found = this.#index.find(identityPlan(klass), attrs as Record<string, unknown>);
    if (!found) return false;
    this.remove(found);
    return true;
  }

  /** Resources of exactly `klass` whose identifier matches the given attributes (others: any). */
  findByAttr<C extends AnyResourceClass>(klass: C, attrs: Partial2<C> = {}): InstanceType<C>[] {
    const want = idTupleOf(klass, attrs as Record<string, unknown>, true);
    return [...this.#index.values()].filter(
      (r) => r.constructor === klass && r.idTuple(true).every((v, i) => want[i] === null || want[i] === v),
    ) as InstanceType<C>[];
  }

  // ---- framework side ------------------------------------------------------------------------

  /** initialScan, then opens the session with everything reported, then alert states. */
  async doInitialScan(): Promise<void> {
    await this.#populate(() => this.initialScan(this.#ctx.rootResource));
  }

  async doPeriodicUpdate(): Promise<void> {
    await this.#update(() => this.updateScan(this.#ctx.rootResource));
  }

  async doAgentSessionStart(data: unknown): Promise<void> {
    await this.#populate(() => this.agentSessionStart(this.#hostId(), data));
  }

  async doAgentSessionContinue(data: unknown): Promise<void> {
    await this.#update(() => this.agentSessionContinue(this.#hostId(), data));
  }

  /** teardown(), then closes the session if it was opened. */
  async doTeardown(): Promise<void> {
    try {
      await this.teardown();
    } finally {
      if (this.#sessionOpen) {
        this.#sessionOpen = false;
        await this.#ctx.sink.sessionClose(this.#ctx.root);
      }
    }
  }

  /** The session's resources, root first (for tests and the scan loop's diagnostics). */
  reportedResources(): Resource[] {
    return [...this.#index.values()];
  }

  #hostId(): number {
    return (this.#ctx.rootResource as unknown as { host_id?: number }).host_id ?? 0;
  }

  async #populate(scan: () => void | Promise<void>): Promise<void> {
    if (this.#initialised) throw new Error('Plugin session already initialised');
    this.#initialised = true;
    await scan();
    await this.#locked(async () => {
      this.#newResources = [];
      this.#deleteLocal = [];
      this.#deleteGlobal = [];
      const all = [...this.#index.values()];
      const reported = all.map((r) => {
        r.flushDeltas();
        return this.#reported(r, r.flushStats());
      });
      await this.#ctx.sink.sessionOpen(this.#ctx.root, this.#ctx.classes, reported, this.updatePeriod);
      this.#sessionOpen = true;
      await this.#sendAlerts(this.#alertChanges(all));
    });
  }

  async #update(scan: () => void | Promise<void>): Promise<void> {
    if (!this.#sessionOpen) throw new Error('Plugin session not open: run the initial scan first');
    await scan();
    await this.#commit();
  }

  /** Sends what changed since the last commit, in IML's order; the snapshot is taken at once so a
   * plugin changing resources while the sink works only affects the next commit. */
  #commit(): Promise<void> {
    return this.#locked(async () => {
      const { sink, root } = this.#ctx;
      const local = this.#deleteLocal;
      const global = this.#deleteGlobal;
      const created = this.#newResources;
      this.#deleteLocal = [];
      this.#deleteGlobal = [];
      this.#newResources = [];
      const createdSet = new Set(created);
      const newReported = created.map((r) => {
        r.flushDeltas();
        return this.#reported(r, r.flushStats());
      });
      // Only resources with something pending are flushed, and alert conditions are evaluated
      // only where attributes changed or never were (they read nothing else): a scan
      // re-reporting 11,011 unchanged resources then costs a pass over the index, no allocation.
      const labels = this.#labelChanges(createdSet);
      const changes: { r: Resource; deltas: Deltas; stats: Record<string, [number, unknown][]> }[] = [];
      const evaluate: Resource[] = [];
      for (const r of this.#index.values()) {
        if (createdSet.has(r)) {
          evaluate.push(r);
          continue;
        }
        if (!hasPendingChanges(r)) {
          // Its label alone changed (it reads a parent, another resource…).
          if (labels.has(r)) changes.push({ r, deltas: { attributes: {}, parents: [] }, stats: {} });
          continue;
        }
        const deltas = r.flushDeltas();
        changes.push({ r, deltas, stats: r.flushStats() });
        if (Object.keys(deltas.attributes).length > 0) evaluate.push(r);
      }
      const alerts = this.#alertChanges(evaluate);

      // Every call is made now, in IML's order, and awaited together: the store applies them in
      // the order they were made, each atomic, and commits the round once (an fsync per awaited
      // call cost 1.7 s for a 1% update of 10,000 drives; together: one commit).
      const sent: Promise<void>[] = [];
      if (local.length > 0) sent.push(sink.sessionRemoveLocalResources(root, local));
      if (global.length > 0) sent.push(sink.sessionRemoveGlobalResources(root, global));
      if (newReported.length > 0) sent.push(sink.sessionAddResources(root, newReported));
      for (const { r, deltas } of changes) {
        const label = labels.get(r);
        if (label !== undefined) {
          // A changed label rides with the attribute changes that made it (or alone: {}).
          const values = this.#values(r, deltas.attributes);
          sent.push(sink.sessionUpdateResource(root, r[STATE].handle!, values, undefined, label));
        } else if (Object.keys(deltas.attributes).length > 0) {
          sent.push(sink.sessionUpdateResource(root, r[STATE].handle!, this.#values(r, deltas.attributes)));
        }
      }
      for (const { r, deltas } of changes) {
        const handle = r[STATE].handle!;
        for (const p of deltas.parents) {
          const ph = p[STATE].handle;
          if (ph === null || !this.#index.has(p)) continue; // removed meanwhile: the store cascades
          if (r.getParents().includes(p)) sent.push(sink.sessionResourceAddParent(root, handle, ph));
          else sent.push(sink.sessionResourceRemoveParent(root, handle, ph));
        }
      }
      for (const { r, stats } of changes) {
        if (Object.keys(stats).length > 0) {
          sent.push(
            sink.sessionUpdateResource(root, r[STATE].handle!, {}, stats as ReportedResource['statistics']),
          );
        }
      }
      for (const { handle, state } of alerts) sent.push(sink.sessionNotifyAlert(root, handle, state));
      await Promise.all(sent);
      // The round is complete: the store may now lower the root's offline alert (IML lowers it
      // after the first good update that follows an initial scan).
      await sink.sessionUpdateDone?.(root);
    });
  }

  /**
   * The own labels (getLabel() overridden) that changed since last sent, `created` excepted (their
   * report carries it). Every such resource is asked each commit: a label may depend on anything
   * (attributes, parents, statistics), and only resources with an own label cost anything.
   */
  #labelChanges(created: ReadonlySet<Resource>): Map<Resource, string> {
    const out = new Map<Resource, string>();
    for (const [r, last] of this.#labels) {
      if (created.has(r)) continue;
      const label = this.#ownLabel(r);
      if (label === undefined || label === last) continue;
      this.#labels.set(r, label);
      out.set(r, label);
    }
    return out;
  }

  /** getLabel() of a resource whose class overrides it, as a string the store keeps; undefined
   * when the class does not override it or getLabel() fails or gives nothing (the store keeps the
   * label it has: the default one until a label was sent). */
  #ownLabel(r: Resource): string | undefined {
    if (!hasOwnLabel(r)) return undefined;
    let v: unknown;
    try {
      v = r.getLabel();
    } catch (error) {
      // Once per resource: it is asked again every commit.
      if (!this.#labelFailed.has(r)) {
        this.#labelFailed.add(r);
        this.log.warn(`getLabel() of a ${r.meta.name} failed: ${String(error)}`);
      }
      return undefined;
    }
    if (v === undefined || v === null) return undefined;
    const label = (typeof v === 'string' ? v : pyStr(v)).slice(0, MAX_RESOURCE_LABEL_LENGTH);
    return label === '' ? undefined : label;
  }

  #alertChanges(resources: Resource[]): { handle: number; state: AlertState }[] {
    const out: { handle: number; state: AlertState }[] = [];
    for (const r of resources) {
      if (r.meta.alertConditions.length === 0) continue;
      const handle = r[STATE].handle!;
      let sent = this.#alertStates.get(handle);
      if (!sent) this.#alertStates.set(handle, (sent = new Map()));
      for (const c of r.meta.alertConditions) {
        for (const [alertClass, attribute, active, severity] of c.test(r)) {
          if (sent.get(alertClass) === active) continue;
          sent.set(alertClass, active);
          out.push({ handle, state: { alertClass, attribute, active, severity } });
        }
      }
    }
    return out;
  }

  async #sendAlerts(changes: { handle: number; state: AlertState }[]): Promise<void> {
    for (const { handle, state } of changes) {
      await this.#ctx.sink.sessionNotifyAlert(this.#ctx.root, handle, state);
    }
  }

  #locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => undefined);
    return run;
  }

  #add(resource: Resource, plan: IdentityPlan, tuple: unknown[], handle: number): void {
    this.#index.add(plan, tuple, resource); // throws 'Duplicate resource added to index'
    setHandle(resource, handle);
  }

  #requireReported(r: Resource, what: string): void {
    if (!this.#index.has(r))
      throw new Error(`${what} resource ${describe(r)} is not reported in this session`);
  }

  #reported(r: Resource, stats: Record<string, [number, unknown][]>): ReportedResource {
    const out: ReportedResource = {
      handle: r[STATE].handle!,
      class: `${this.#classPlugin(r)}.${r.meta.name}`,
      attributes: this.#values(r, r.storage()),
      parents: r.getParents().map((p) => p[STATE].handle!),
    };
    if (Object.keys(stats).length > 0) out.statistics = stats as ReportedResource['statistics'];
    if (hasOwnLabel(r)) {
      const label = this.#ownLabel(r);
      this.#labels.set(r, label);
      if (label !== undefined) out.label = label;
    }
    return out;
  }

  /** The plugin owning a class (the linux root, a class shared with another plugin), else this one. */
  #classPlugin(r: Resource): string {
    return classPlugin(r.constructor as AnyResourceClass) ?? this.#ctx.pluginName;
  }

  #values(r: Resource, values: Readonly<Record<string, unknown>>): Record<string, AttributeValue> {
    const out: Record<string, AttributeValue> = {};
    for (const [k, v] of Object.entries(values)) {
      if (r.meta.attributes[k]?.type === 'ResourceReference' && v !== null) {
        const h = (v as Resource)[STATE].handle;
        if (h === null)
          throw new Error(`Reference ${k} of ${describe(r)} to a resource not reported in this session`);
        out[k] = { handle: h };
      } else {
        out[k] = v as AttributeValue;
      }
    }
    return out;
  }
}

function describe(r: Resource): string {
  try {
    return `'${r.getLabel()}'`;
  } catch {
    return `of class ${r.meta.name}`;
  }
}

/** The identifier values of `attrs` for `klass` (IML's id tuple), null for optional/missing ones. */
function idTupleOf(klass: AnyResourceClass, attrs: Record<string, unknown>, nullMissing = false): unknown[] {
  const meta = klass.meta;
  if (!meta.identifier) throw new Error(`Resource class '${meta.name}': No Meta.identifier`);
  return meta.identifier.attributes.map((field) => {
    const attr = meta.attributes[field];
    if (!attr) throw new Error(`Invalid attribute ${field} named in identifier for ${meta.name}`);
    const v = attrs[field];
    if (v !== undefined && v !== null) return attr.type === 'Boolean' ? Boolean(v) : v;
    if (attr.optional || nullMissing) return null;
    throw new Error(`Missing ID attribute '${field}'`);
  });
}

export function isPluginClass(v: unknown): v is PluginClass {
  return (
    typeof v === 'function' &&
    (v as unknown as Record<symbol, unknown>)[PLUGIN_CLASS_BRAND] === true &&
    v !== Plugin
  );
}

export type PluginClass = (new (context: PluginContext) => Plugin) & typeof Plugin;
