// oVirtCmd's event_waiter over XenAPI event.from: take the event position, run the body, then
// collect events until every `waitFor` code has been seen (a multiset: each occurrence of a code
// takes away ONE entry) or one `breakOn` code arrives, or `timeout` seconds pass after the body.
//
// Event codes (docs/berth-cli.md "Waiting for events"):
//   `<class>.<add|mod|del>`      an object of the class created / changed / destroyed (`vm.add`)
//   `<class>.<field>=<value>`    a field of an object of the class became value (text, any case):
//                                `vm.power_state=Running`, `task.status=success`
//   `message.<NAME>` or `NAME`   a XenAPI message of that name created (`VM_STARTED`)
import type { Api } from '../api.js';
import { CliError, EXIT_FAILED, EXIT_USAGE } from '../errors.js';
import { wireClass } from './classes.js';
import { matchesSearch, parseOptionalSearch } from '../select.js';

type Rec = Record<string, unknown>;

export interface WaiterEvent {
  id: string;
  /** Lower-case class, as event.from reports it (`vm`, `message`). */
  class: string;
  operation: 'add' | 'mod' | 'del';
  ref: string;
  snapshot?: Rec;
  /** The codes of the wait and break lists this event produced. */
  codes: string[];
  /** One line: `vm.mod <uuid> web01` or `message.add VM_STARTED on VM <uuid>`. */
  description: string;
}

export type EventCode =
  | { raw: string; key: string; kind: 'op'; cls: string; op: string }
  | { raw: string; key: string; kind: 'field'; cls: string; field: string; value: string }
  | { raw: string; key: string; kind: 'message'; name: string };

const OPS = new Set(['add', 'mod', 'del']);

/** Parses one code of the vocabulary above; anything else is a usage error. */
export function parseCode(raw: string): EventCode {
  const s = raw.trim();
  if (/^[A-Z][A-Z0-9_]*$/.test(s)) return { raw, key: `message.${s}`, kind: 'message', name: s };
  const m = /^([A-Za-z_]\w*)\.(.+)$/.exec(s);
  if (m) {
    const cls = m[1].toLowerCase();
    const rest = m[2];
    if (OPS.has(rest)) return { raw, key: `${cls}.${rest}`, kind: 'op', cls, op: rest };
    const f = /^(\w+)=(.*)$/.exec(rest);
    if (f) {
      const value = f[2].toLowerCase();
      return { raw, key: `${cls}.${f[1]}=${value}`, kind: 'field', cls, field: f[1], value };
    }
    if (cls === 'message' && /^\w+$/.test(rest))
      return { raw, key: `message.${rest.toUpperCase()}`, kind: 'message', name: rest.toUpperCase() };
  }
  throw new CliError(
    `unknown event code '${raw}' (<class>.add|mod|del, <class>.<field>=<value> or a message NAME)`,
    EXIT_USAGE,
  );
}

/** The class an event of this code comes from. */
function codeClass(c: EventCode): string {
  return c.kind === 'message' ? 'message' : c.cls;
}

const text = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v ?? null)).toLowerCase();

/**
 * Does the event produce the code? `prev` is the object's record before the event (undefined
 * when unknown or created), so a field code fires when the field changes to the value.
 */
export function eventHasCode(
  ev: Pick<WaiterEvent, 'class' | 'operation' | 'snapshot'>,
  code: EventCode,
  prev: Rec | undefined,
): boolean {
  switch (code.kind) {
    case 'op':
      return ev.class === code.cls && ev.operation === code.op;
    case 'message':
      return (
        ev.class === 'message' &&
        ev.operation === 'add' &&
        String(ev.snapshot?.name ?? '').toUpperCase() === code.name
      );
    case 'field': {
      if (ev.class !== code.cls || ev.operation === 'del' || !ev.snapshot) return false;
      if (text(ev.snapshot[code.field]) !== code.value) return false;
      return prev === undefined || text(prev[code.field]) !== code.value;
    }
  }
}

/** What the waiter keeps its eyes on: a search over fields, one object, or a predicate. */
export type ObjectFilter =
  | string
  | undefined
  | null
  | { ref: string; uuid?: string; record?: Rec }
  | ((subject: Rec | undefined, ev: WaiterEvent) => boolean);

export interface WaiterOptions {
  waitFor?: readonly string[];
  breakOn?: readonly string[];
  /** Seconds after the body before giving up (oVirtCmd's default: 1000). */
  timeout?: number;
  /** Longest single event.from wait, in seconds (default 1). */
  wait?: number;
  /** Print each collected event's description (through `print`, default console.log). */
  verbose?: boolean;
  print?: (line: string) => void;
  /** Called with each collected event as it arrives (event wait streams them). */
  onEvent?: (ev: WaiterEvent) => void;
  /** Classes to watch besides those the codes name. */
  classes?: readonly string[];
}

export interface WaiterResult<T> {
  value: T;
  events: WaiterEvent[];
  /** The break_on code that ended the wait, if one did. */
  brokeOn?: string;
  /** Codes of waitFor not seen (empty unless the wait broke). */
  remaining: string[];
}

/** The seed's timeout error (message kept as oVirtCmd words it), with what was still awaited. */
export class EventTimeoutError extends CliError {
  constructor(readonly remaining: string[]) {
    super('Timeout will waiting for events', EXIT_FAILED, `still waiting for: ${remaining.join(', ')}`);
  }
}

function describe(ev: Omit<WaiterEvent, 'description' | 'codes'>, prev: Rec | undefined): string {
  const s = ev.snapshot ?? prev ?? {};
  if (ev.class === 'message' && ev.snapshot) return `message.add ${s.name} on ${s.cls} ${s.obj_uuid}`;
  const label = s.name_label ?? s.name ?? '';
  return `${ev.class}.${ev.operation} ${s.uuid ?? ev.ref}${label ? ` ${label}` : ''}`;
}

/** The filter as a test on the event's subject (for a message: the object it is about). */
function filterTest(filter: ObjectFilter): (subject: Rec | undefined, ev: WaiterEvent) => boolean {
  if (filter === undefined || filter === null || filter === '') return () => true;
  if (typeof filter === 'function') return filter;
  if (typeof filter === 'string') {
    const terms = parseOptionalSearch(filter);
    return (subject) => subject !== undefined && matchesSearch(subject, terms);
  }
  const uuid = filter.uuid ?? (filter.record?.uuid as string | undefined);
  return (subject, ev) =>
    ev.class === 'message' ? subject?.uuid === uuid && uuid !== undefined : ev.ref === filter.ref;
}

interface WireBatch {
  events: { id: string; class: string; operation: 'add' | 'mod' | 'del'; ref: string; snapshot?: Rec }[];
  token: string;
}

/**
 * Runs `body` and waits for its events (see the file comment). The lists given are not changed;
 * `eventsOut` (if any) receives every event that produced a wait or break code.
 */
export async function eventWaiter<T = undefined>(
  where: Api | { api: Api },
  filter: ObjectFilter,
  eventsOut: WaiterEvent[] | null | undefined,
  opts: WaiterOptions = {},
  body?: () => T | Promise<T>,
): Promise<WaiterResult<T>> {
  const api = 'call' in where ? where : where.api;
  const waitCodes = (opts.waitFor ?? []).map(parseCode);
  const breakCodes = (opts.breakOn ?? []).map(parseCode);
  const timeoutMs = (opts.timeout ?? 1000) * 1000;
  const waitS = opts.wait ?? 1;
  const print = opts.print ?? ((l: string) => console.log(l));
  const test = filterTest(filter);
  const classes = [
    ...new Set([
      ...[...waitCodes, ...breakCodes].map(codeClass),
      ...(opts.classes ?? []).map((c) => c.toLowerCase()),
    ]),
  ];

  // The position first, then the records field codes compare against (a change between the two
  // is seen as already made: it happened before the body ran).
  let token = ((await api.call('event.from', [], '', 0)) as WireBatch).token;
  const known = new Map<string, Rec>(); // ref → last record seen
  const byUuid = new Map<string, Rec>();
  const remember = (ref: string, r: Rec) => {
    known.set(ref, r);
    if (typeof r.uuid === 'string') byUuid.set(r.uuid, r);
  };
  const baseline = new Set([...waitCodes, ...breakCodes].filter((c) => c.kind === 'field').map(codeClass));
  for (const cls of baseline) {
    const all = (await api.call(`${wireClass(cls)}.get_all_records`)) as Record<string, Rec>;
    for (const [ref, r] of Object.entries(all)) remember(ref, r);
  }

  const events: WaiterEvent[] = [];
  const result: WaiterResult<T> = { value: undefined as T, events, remaining: waitCodes.map((c) => c.raw) };
  const pending = [...waitCodes];
  if (waitCodes.length === 0 && breakCodes.length === 0) {
    result.value = (await body?.()) as T;
    return result;
  }
  // The body runs while events are collected (event.from coalesces the changes of one object
  // between two calls: polling during the body sees more of them); the timeout counts from
  // the body's end, as oVirtCmd's.
  let bodyEnd: number | undefined;
  let bodyError: { e: unknown } | undefined;
  const running = Promise.resolve()
    .then(() => body?.())
    .then(
      (v) => {
        result.value = v as T;
        bodyEnd = Date.now();
      },
      (e) => {
        bodyError = { e };
      },
    );

  // A message's subject: the object it is about, from what was seen or read once by uuid.
  const subjectOf = async (ev: WaiterEvent): Promise<Rec | undefined> => {
    if (ev.class !== 'message') return ev.snapshot ?? known.get(ev.ref);
    const uuid = ev.snapshot?.obj_uuid as string | undefined;
    if (!uuid) return undefined;
    const seen = byUuid.get(uuid);
    if (seen) return seen;
    try {
      const cls = wireClass(String(ev.snapshot?.cls ?? ''));
      const ref = (await api.call(`${cls}.get_by_uuid`, uuid)) as string;
      const r = (await api.call(`${cls}.get_record`, ref)) as Rec;
      remember(ref, r);
      return r;
    } catch {
      return undefined; // gone already: no subject to match
    }
  };

  const finished = () => result.brokeOn !== undefined || (waitCodes.length > 0 && pending.length === 0);
  while (!finished()) {
    if (bodyError) break;
    const left = bodyEnd === undefined ? waitS * 1000 : bodyEnd + timeoutMs - Date.now();
    if (left <= 0) throw new EventTimeoutError(pending.map((c) => c.raw));
    const batch = (await api.call('event.from', classes, token, Math.min(waitS, left / 1000))) as WireBatch;
    token = batch.token;
    for (const wire of batch.events) {
      if (finished()) break;
      const prev = known.get(wire.ref);
      const base = { ...wire, id: String(wire.id) };
      const ev: WaiterEvent = { ...base, codes: [], description: describe(base, prev) };
      if (wire.operation === 'del') known.delete(wire.ref);
      else if (wire.snapshot) remember(wire.ref, wire.snapshot);
      const hits = [...waitCodes, ...breakCodes].filter((c) => eventHasCode(ev, c, prev));
      if (hits.length === 0) continue;
      if (!test(await subjectOf(ev), ev)) continue;
      ev.codes = [...new Set(hits.map((c) => c.raw))];
      events.push(ev);
      eventsOut?.push(ev);
      if (opts.verbose) print(ev.description);
      opts.onEvent?.(ev);
      // Each distinct code of the event takes away one entry of the multiset.
      for (const key of new Set(hits.map((c) => c.key))) {
        const i = pending.findIndex((c) => c.key === key);
        if (i >= 0) pending.splice(i, 1);
      }
      result.remaining = pending.map((c) => c.raw);
      const broke = breakCodes.find((c) => hits.includes(c));
      if (broke) result.brokeOn = broke.raw;
    }
  }
  await running;
  if (bodyError) throw bodyError.e;
  return result;
}
