// The connected `context` of `berth eval` scripts (oVirtCmd's Context): one collection per noun
// (`context.vms`, `context.hosts`, aliases such as `context.disks`), built from the noun
// declarations alone (xapiClass, nameField, filter), and objects whose fields are properties,
// whose unknown properties are XenAPI messages (`vm.cleanShutdown()` → VM.clean_shutdown(vm)),
// and whose Ref-set fields are sub-collections (`vm.VBDs`, `host.PIFs`).
import type { Api, ApiObject } from '../api.js';
import { CliError, EXIT_FAILED, EXIT_NOT_FOUND } from '../errors.js';
import { parseSize } from '../size.js';
import type { NounSpec, Output, VerbOutcome } from '../spec.js';
import { backReference, refField, wireClass } from './classes.js';
import { eventWaiter, type ObjectFilter, type WaiterEvent, type WaiterOptions } from './event-waiter.js';
import { matchesSearch, parseOptionalSearch } from '../select.js';

type Rec = Record<string, unknown>;

/** No object matched a `get` (exit 252 when a script lets it escape): oVirtCmd's OVLibErrorNotFound. */
export class NotFoundError extends CliError {
  constructor(message: string) {
    super(message, EXIT_NOT_FOUND);
    this.name = 'NotFoundError';
  }
}

/** What `get`/`list` select by: the noun options' `id` (uuid or ref), `name`, `search`, or any field. */
export type Filters = { id?: string; name?: string; search?: string; [field: string]: unknown };

const UUID_RE = /^[0-9a-z]{8}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{12}$/;
const OBJECT = Symbol('berth.object');

/** An object of the API as scripts see it (fields and messages come through the proxy). */
export interface BerthObject extends ApiObject {
  readonly uuid: string;
  readonly name: string;
  refresh(): Promise<BerthObject>;
  export(...path: string[]): Promise<string[]>;
  waitFor(cond: string | ((o: BerthObject) => boolean), o?: { timeoutMs?: number }): Promise<BerthObject>;
  follow(field: string): Promise<BerthObject>;
  call(message: string, ...args: unknown[]): Promise<unknown>;
  [field: string]: any;
}

/**
 * `setVCPUsMax` → `set_VCPUs_max`, `setIsATemplate` → `set_is_a_template`, `powerState` →
 * `power_state`: words lower-cased, acronyms (with XenAPI's plural `s`: VBDs, PIFs) kept; names
 * with an underscore or no capital pass unchanged.
 */
export function snakeCase(name: string): string {
  if (name.includes('_') || !/[A-Z]/.test(name)) return name;
  const words = name.match(/[A-Z]{2,}s?(?![a-z])|[A-Z]?[a-z0-9]+|[A-Z]/g) ?? [name];
  return words.map((w, i) => (i > 0 && /^[A-Z]([a-z0-9]*)$/.test(w) ? w.toLowerCase() : w)).join('_');
}

function plural(word: string): string {
  if (/(s|x|sh|ch)$/.test(word)) return `${word}es`;
  if (/[^aeiou]y$/.test(word)) return `${word.slice(0, -1)}ies`;
  return `${word}s`;
}

/** The context attribute names of a noun: its plural and its aliases' (`vdi` → vdis, disks). */
export function collectionNames(noun: NounSpec): string[] {
  const camel = (w: string) => w.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  return [noun.name, ...(noun.aliases ?? [])].map((w) => plural(camel(w)));
}

/** The selection as the core's messages show it (oVirtCmd's dict form): `{'name': 'web01'}`. */
function selectionText(f: Filters): string {
  const quote = (v: unknown) => `'${String(v).replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return `{${Object.entries(f)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${quote(k)}: ${quote(v)}`)
    .join(', ')}}`;
}

export class EvalContext {
  readonly api: Api;
  readonly collections: Record<string, Collection> = {};
  /** Also on the context, for helpers that only get the context. */
  readonly parseSize = parseSize;
  readonly NotFoundError = NotFoundError;
  [name: string]: any;

  constructor(
    api: Api,
    readonly nouns: readonly NounSpec[],
    readonly out: Output,
  ) {
    this.api = api;
    for (const noun of nouns) {
      if (!noun.xapiClass) continue;
      const c = new Collection(this, noun.xapiClass, noun);
      for (const n of collectionNames(noun)) {
        if (n in this || n in this.collections) continue; // first noun wins a shared name
        this.collections[n] = c;
        this[n] = c;
      }
    }
  }

  /** The noun an object of a class is shown as (the first whose filter takes the record). */
  nounFor(cls: string, record?: Rec): NounSpec | undefined {
    const all = this.nouns.filter((n) => n.xapiClass && wireClass(n.xapiClass) === wireClass(cls));
    return all.find((n) => !record || !n.filter || n.filter(record)) ?? all[0];
  }

  /** A script-side object of an ApiObject (or of a class and ref, read now). */
  async wrap(o: ApiObject | string, ref?: string): Promise<BerthObject> {
    if (typeof o === 'string') return wrapObject(this, await this.api.byRef(wireClass(o), ref ?? ''));
    return isObject(o) ? (o as BerthObject) : wrapObject(this, o);
  }

  /** oVirtCmd's event_waiter with this context's connection; verbose lines go to the output. */
  eventWaiter<T>(
    filter: ObjectFilter,
    eventsOut: WaiterEvent[] | null,
    opts: WaiterOptions = {},
    body?: () => T | Promise<T>,
  ) {
    return eventWaiter(this.api, filter, eventsOut, { print: (l) => this.out.line(l), ...opts }, body);
  }
}

function isObject(o: unknown): boolean {
  return typeof o === 'object' && o !== null && (o as Record<symbol, unknown>)[OBJECT] === true;
}

/** A pending `add(..., {wait: false})`: the task, and `wait()` for the created object. */
export interface Future {
  task: string;
  wait(o?: { timeoutMs?: number }): Promise<BerthObject>;
}

export class Collection {
  constructor(
    private readonly ctx: EvalContext,
    readonly cls: string,
    readonly noun: NounSpec | undefined,
    /** A sub-collection: the refs of the parent's field, and the parent to set on `add`. */
    private readonly scope?: { refs: readonly string[]; parent: ApiObject },
  ) {}

  /** The raw refs of a sub-collection (the parent's field value). */
  get refs(): readonly string[] | undefined {
    return this.scope?.refs;
  }

  private async records(): Promise<ApiObject[]> {
    const api = this.ctx.api;
    if (this.scope) return Promise.all(this.scope.refs.map((r) => api.byRef(wireClass(this.cls), r)));
    const all = await api.allRecords(wireClass(this.cls));
    const keep = this.noun?.filter;
    return keep ? all.filter((o) => keep(o.record)) : all;
  }

  private nameField(): string {
    return this.noun?.nameField ?? 'name_label';
  }

  /** Every object matching the filters (all without): a search string or `{id, name, search, field}`. */
  async list(filters: Filters | string = {}): Promise<BerthObject[]> {
    const f: Filters = typeof filters === 'string' ? { search: filters } : filters;
    const terms = parseOptionalSearch(f.search);
    const rest = Object.entries(f).filter(
      ([k, v]) => !['id', 'name', 'search'].includes(k) && v !== undefined,
    );
    return (await this.records())
      .filter(
        (o) =>
          (f.id === undefined || o.ref === f.id || o.record.uuid === f.id) &&
          (f.name === undefined || o.record[this.nameField()] === f.name) &&
          matchesSearch(o.record, terms) &&
          rest.every(([k, v]) => o.record[k] === v),
      )
      .map((o) => wrapObject(this.ctx, o, this.noun));
  }

  /**
   * One object: a wrapper (returned as is), a uuid, a ref, a name, or filters; none → NotFoundError,
   * several → `Too many objects` (251), as oVirtCmd's get.
   */
  async get(x: BerthObject | ApiObject | string | Filters): Promise<BerthObject> {
    if (isObject(x)) return x as BerthObject;
    if (typeof x === 'object' && typeof (x as ApiObject).ref === 'string' && 'record' in x)
      return wrapObject(this.ctx, x as ApiObject, this.noun);
    if (typeof x === 'string' && (x.startsWith('OpaqueRef:') || UUID_RE.test(x)) && !this.scope) {
      try {
        const o = x.startsWith('OpaqueRef:')
          ? await this.ctx.api.byRef(wireClass(this.cls), x)
          : await this.ctx.api.byUuid(wireClass(this.cls), x);
        return wrapObject(this.ctx, o, this.noun);
      } catch (e) {
        if ((e as { code?: string }).code === undefined) throw e;
        throw new NotFoundError(`no object found matching the search ${selectionText({ id: x })}`);
      }
    }
    const f: Filters =
      typeof x === 'string'
        ? UUID_RE.test(x) || x.startsWith('OpaqueRef:')
          ? { id: x }
          : { name: x }
        : (x as Filters);
    const found = await this.list(f);
    if (found.length === 0)
      throw new NotFoundError(`no object found matching the search ${selectionText(f)}`);
    if (found.length > 1)
      throw new CliError(`Too many objects found matching the search ${selectionText(f)}`, EXIT_FAILED);
    return found[0];
  }

  /**
   * `<Class>.create(record)`; in a sub-collection the field pointing back to the parent is filled
   * in (`vm.VBDs.add({...})` sets VM). `wait: false` returns a Future on the Async task.
   */
  async add(record: Rec, o: { wait?: boolean } = {}): Promise<BerthObject | Future> {
    const full = { ...record };
    if (this.scope) {
      const back = backReference(this.cls, this.scope.parent.cls);
      if (back && full[back] === undefined) full[back] = this.scope.parent.ref;
    }
    const cls = wireClass(this.cls);
    const api = this.ctx.api;
    if (o.wait === false) {
      const task = await api.callAsync(`${cls}.create`, full);
      return {
        task,
        wait: async (w = {}) => {
          const ref = await awaitTask(api, task, w.timeoutMs);
          return wrapObject(this.ctx, await api.byRef(cls, ref), this.noun);
        },
      };
    }
    const ref = (await api.call(`${cls}.create`, full)) as string;
    return wrapObject(this.ctx, await api.byRef(cls, ref), this.noun);
  }

  /** `export(path…)` of every object of the collection, one entry per document or value. */
  async export(...path: string[]): Promise<string[]> {
    const out: string[] = [];
    for (const o of await this.list()) out.push(...(await o.export(...path)));
    return out;
  }
}

/** Waits until the object's record satisfies `done` (event.from on that object), or the timeout. */
export async function waitRecord(
  api: Api,
  cls: string,
  ref: string,
  done: (r: Rec) => boolean,
  what: string,
  timeoutMs = Number.POSITIVE_INFINITY,
): Promise<Rec> {
  const sub = [`${wireClass(cls).toLowerCase()}/${ref}`];
  let token = ((await api.call('event.from', [], '', 0)) as { token: string }).token;
  let record = (await api.call(`${wireClass(cls)}.get_record`, ref)) as Rec;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (done(record)) return record;
    const left = deadline - Date.now();
    if (left <= 0) throw new CliError(`Timeout waiting for ${what}`, EXIT_FAILED);
    const batch = (await api.call('event.from', sub, token, Math.min(5, left / 1000))) as {
      events: { operation: string; snapshot?: Rec }[];
      token: string;
    };
    token = batch.token;
    for (const ev of batch.events) {
      if (ev.operation === 'del') throw new CliError(`${what}: the object was destroyed`, EXIT_FAILED);
      if (ev.snapshot) record = ev.snapshot;
    }
  }
}

/** The object a successful task made (its result's ref); a failed task's error is thrown. */
async function awaitTask(api: Api, task: string, timeoutMs?: number): Promise<string> {
  const r = await waitRecord(api, 'task', task, (t) => t.status !== 'pending', `task ${task}`, timeoutMs);
  if (r.status !== 'success') {
    const [code, ...params] = (r.error_info as string[] | undefined) ?? ['TASK_FAILED'];
    const { XenApiError } = await import('../../../shared/errors.js');
    throw new XenApiError(String(code), params.map(String));
  }
  const ref = /OpaqueRef:[^<\s"]+/.exec(String(r.result ?? ''));
  if (!ref) throw new CliError(`task ${task} returned no object`, EXIT_FAILED);
  return ref[0];
}

/** The field a state value names: VM power_state, task status, else an error. */
function stateField(cls: string): string {
  const c = wireClass(cls);
  if (c === 'VM') return 'power_state';
  if (c === 'task') return 'status';
  if (c === 'host') return 'enabled';
  throw new CliError(`waitFor: ${c} objects have no state to wait for (give a predicate)`, EXIT_FAILED);
}

/** Runs the noun's `export` verb on one object and collects what it prints and returns. */
async function exportObject(ctx: EvalContext, o: ApiObject, path: string[]): Promise<string[]> {
  const noun = ctx.nounFor(o.cls, o.record);
  const verb = noun?.verbs.find((v) => v.name === 'export');
  if (!noun || !verb) return [JSON.stringify({ ref: o.ref, ...o.record }, null, 2)];
  const lines: string[] = [];
  const out: Output = {
    isTTY: false,
    colour: false,
    format: ctx.out.format,
    line: (t) => lines.push(t),
    progress: () => {},
    progressDone: () => {},
  };
  const outcome: VerbOutcome = await verb.run(
    { api: ctx.api, out, noun, verb, selection: {}, opts: {}, args: path },
    [{ cls: o.cls, ref: o.ref, record: o.record }],
  );
  if (typeof outcome === 'string') lines.push(outcome);
  else if (outcome && typeof outcome === 'object') {
    if (Symbol.asyncIterator in outcome)
      for await (const l of outcome as AsyncIterable<string>) lines.push(l);
    else if ('records' in outcome)
      for (const r of outcome.records) lines.push(JSON.stringify({ ref: r.ref, ...r.record }, null, 2));
    else if ('ref' in outcome) lines.push(JSON.stringify({ ref: outcome.ref, ...outcome.record }, null, 2));
  }
  return lines;
}

/** The proxy scripts get for an object (see the file comment). */
export function wrapObject(ctx: EvalContext, o: ApiObject, noun?: NounSpec): BerthObject {
  const state = { cls: wireClass(o.cls), ref: o.ref, record: o.record };
  const api = ctx.api;
  const nameField = () => (noun ?? ctx.nounFor(state.cls, state.record))?.nameField ?? 'name_label';
  const label = () =>
    `${state.cls} ${state.record.uuid ?? state.ref} ${state.record[nameField()] ?? ''}`.trim();
  const refresh = async () => {
    state.record = (await api.byRef(state.cls, state.ref)).record;
    return proxy;
  };
  const call = async (message: string, ...args: unknown[]) => {
    const result = await api.call(`${state.cls}.${message}`, state.ref, ...args);
    // Actions change the object: re-read it so fields are current (gone after destroy: keep the last).
    if (!/^get_/.test(message)) await refresh().catch(() => undefined);
    return result;
  };
  const own: Record<string, unknown> = {
    cls: undefined,
    ref: undefined,
    record: undefined,
    uuid: undefined,
    name: undefined,
    refresh,
    call,
    export: (...path: string[]) => exportObject(ctx, state, path),
    follow: async (field: string) => {
      const f = field in state.record ? field : snakeCase(field);
      const target = refField(state.cls, f);
      if (!target || target.set)
        throw new CliError(`${state.cls}.${f} is not a reference field`, EXIT_FAILED);
      const ref = String(state.record[f]);
      if (ref === 'OpaqueRef:NULL') throw new NotFoundError(`${state.cls}.${f} is empty (OpaqueRef:NULL)`);
      return wrapObject(ctx, await api.byRef(target.cls, ref));
    },
    waitFor: async (cond: string | ((x: BerthObject) => boolean), w: { timeoutMs?: number } = {}) => {
      const test =
        typeof cond === 'function'
          ? (r: Rec) => {
              state.record = r;
              return cond(proxy);
            }
          : (
              (field: string) => (r: Rec) =>
                String(r[field]).toLowerCase() === cond.toLowerCase()
            )(stateField(state.cls));
      const what = typeof cond === 'string' ? `${label()} to be ${cond}` : label();
      state.record = await waitRecord(api, state.cls, state.ref, test, what, w.timeoutMs);
      return proxy;
    },
    toJSON: () => ({ ref: state.ref, ...state.record }),
    toString: () => label(),
  };
  const proxy: BerthObject = new Proxy(state as unknown as BerthObject, {
    get(_t, prop) {
      if (prop === OBJECT) return true;
      if (prop === Symbol.for('nodejs.util.inspect.custom')) return () => `<${label()}>`;
      if (typeof prop === 'symbol' || prop === 'then') return undefined; // never a thenable
      switch (prop) {
        case 'cls':
          return state.cls;
        case 'ref':
          return state.ref;
        case 'record':
          return state.record;
        case 'uuid':
          return state.record.uuid;
        case 'name':
          return state.record[nameField()];
      }
      if (prop in own) return own[prop];
      const field =
        prop in state.record ? prop : snakeCase(prop) in state.record ? snakeCase(prop) : undefined;
      if (field !== undefined) {
        const target = refField(state.cls, field);
        const value = state.record[field];
        if (target?.set && Array.isArray(value))
          return new Collection(ctx, target.cls, ctx.nounFor(target.cls), {
            refs: value as string[],
            parent: state,
          });
        return value;
      }
      return (...args: unknown[]) => call(snakeCase(prop), ...args);
    },
    has(_t, prop) {
      return typeof prop === 'string' && (prop in own || prop in state.record);
    },
    ownKeys() {
      return ['ref', ...Object.keys(state.record)];
    },
    getOwnPropertyDescriptor(_t, prop) {
      if (prop === 'ref' || (typeof prop === 'string' && prop in state.record))
        return { enumerable: true, configurable: true, writable: false, value: proxy[prop as string] };
      return undefined;
    },
    set() {
      return false;
    },
  });
  return proxy;
}
