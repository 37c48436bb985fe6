// event.from: tokens, subscriptions, coalescing. The scan is a pure function of the database
// state; waiting for changes is in event-service.ts.
import { XenApiError } from '../../shared/errors.js';
import type { ChangeOp, Database, Row } from '../db/database.js';

export interface WireEvent {
  id: string;
  timestamp: string;
  class: string;
  operation: ChangeOp;
  ref: string;
  snapshot?: Row;
}

/** A parsed subscription list: whole classes (lower-case) and single objects. */
export interface Subscription {
  all: boolean;
  classes: Set<string>;
  objects: Set<string>;
}

/** `"*"`, `"vm"`, `"VM/OpaqueRef:…"`; class part case-insensitive, split on the first `/`. */
export function parseSubscription(classes: readonly string[]): Subscription {
  const sub: Subscription = { all: false, classes: new Set(), objects: new Set() };
  for (const c of classes) {
    if (c === '*') sub.all = true;
    const slash = c.indexOf('/');
    if (slash < 0) sub.classes.add(c.toLowerCase());
    else sub.objects.add(`${c.slice(0, slash).toLowerCase()}/${c.slice(slash + 1)}`);
  }
  return sub;
}

export function subscribes(sub: Subscription, lowerCls: string, ref: string): boolean {
  return (
    sub.all || sub.classes.has(lowerCls) || (sub.objects.size > 0 && sub.objects.has(`${lowerCls}/${ref}`))
  );
}

const pad20 = (n: number) => String(n).padStart(20, '0');

export function formatToken(gen: number, messageGen = 0): string {
  return `${pad20(gen)},${pad20(messageGen)}`;
}

/** `""` → 0 (everything); otherwise two comma-separated integers. */
export function parseToken(token: string): number {
  if (token === '') return 0;
  const m = /^\s*(-?\d+)\s*,\s*(-?\d+)\s*$/.exec(token);
  if (!m) throw new XenApiError('EVENT_FROM_TOKEN_PARSE_FAILURE', [token]);
  const gen = Number(m[1]);
  return Math.max(gen, 0);
}

interface Pending {
  cls: string;
  ref: string;
}

/**
 * Events for objects changed after generation `since`, coalesced per object: created after the
 * token → one `add`; otherwise changed → one `mod`; deleted (and existing before) → one `del`;
 * created and deleted inside the window → nothing. Order: messages, adds, mods, dels.
 */
export function collectEvents(
  db: Database,
  sub: Subscription,
  since: number,
  snapshot: (cls: string, row: Row) => Row,
): WireEvent[] {
  const touched = new Map<string, Pending>();
  const deleted = new Map<string, Pending & { gen: number; createdBefore: boolean }>();
  const changes = db.changesSince(since);
  const wanted = (cls: string) => {
    const spec = db.model.classes[cls];
    return spec?.genEvents ?? false;
  };
  if (changes) {
    const createdInWindow = new Set<string>();
    for (const ch of changes) {
      if (!wanted(ch.cls) || !subscribes(sub, ch.cls.toLowerCase(), ch.ref)) continue;
      if (ch.op === 'add') createdInWindow.add(ch.ref);
      if (ch.op === 'del') {
        touched.delete(ch.ref);
        deleted.set(ch.ref, {
          cls: ch.cls,
          ref: ch.ref,
          gen: ch.gen,
          createdBefore: !createdInWindow.has(ch.ref),
        });
      } else {
        deleted.delete(ch.ref);
        touched.set(ch.ref, { cls: ch.cls, ref: ch.ref });
      }
    }
  } else {
    // The token predates the change log: every live object it may not know about is reported.
    for (const cls of db.storedClasses()) {
      if (!wanted(cls)) continue;
      const lower = cls.toLowerCase();
      for (const ref of db.all(cls).keys()) {
        if (subscribes(sub, lower, ref)) touched.set(ref, { cls, ref });
      }
    }
  }
  const messages: WireEvent[] = [];
  const adds: WireEvent[] = [];
  const mods: WireEvent[] = [];
  const dels: WireEvent[] = [];
  for (const { cls, ref } of touched.values()) {
    const row = db.get(cls, ref);
    const gens = db.objectGenerations(ref);
    if (!row || !gens) continue; // deleted before its snapshot could be taken
    const op: ChangeOp = gens.created > since ? 'add' : 'mod';
    const ev: WireEvent = {
      id: String(gens.modified),
      timestamp: '0.0',
      class: cls.toLowerCase(),
      operation: op,
      ref,
      snapshot: snapshot(cls, row),
    };
    if (cls === 'message') messages.push(ev);
    else (op === 'add' ? adds : mods).push(ev);
  }
  for (const d of deleted.values()) {
    if (!d.createdBefore) continue;
    const ev: WireEvent = {
      id: String(d.gen),
      timestamp: '0.0',
      class: d.cls.toLowerCase(),
      operation: 'del',
      ref: d.ref,
    };
    if (d.cls === 'message') messages.push(ev);
    else dels.push(ev);
  }
  return [...messages, ...adds, ...mods, ...dels];
}

/** Row counts of every stored class, lower-case names (clients use them to spot missed deletions). */
export function validRefCounts(db: Database): Record<string, number> {
  const out: Record<string, number> = {};
  for (const cls of Object.keys(db.model.classes)) out[cls.toLowerCase()] = db.count(cls);
  return out;
}
