// `event`: XenAPI events (event.from). XenAPI keeps no event log (the stored log is `message`),
// so `list` shows what changed since a token (`-f`, default now, waiting a short window) and
// ends with the token to continue from; `wait` is oVirtCmd's event_waiter on the command line,
// printing each awaited event as it arrives (codes: eval/event-waiter.ts).
import { CliError, EXIT_FAILED, EXIT_USAGE } from '../errors.js';
import { eventWaiter } from '../eval/event-waiter.js';
import { matchesSearch, parseOptionalSearch, quoteSearchValue } from '../select.js';
import type { NounSpec, OptionSpec, Selection, VerbSpec } from '../spec.js';

type Rec = Record<string, unknown>;

const classOption: OptionSpec = {
  short: 'c',
  long: 'class',
  help: 'a class to watch (vm, host, task, message…)',
  kind: 'value',
  repeat: true,
  metavar: 'CLASS',
};

/** Lines pushed by `run` as an async iterable that ends (or throws) when `run` settles. */
function streamLines(run: (emit: (line: string) => void) => Promise<void>): AsyncIterable<string> {
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  let settled = false;
  let failure: { e: unknown } | undefined;
  const done = run((line) => {
    queue.push(line);
    wake?.();
  }).then(
    () => {
      settled = true;
      wake?.();
    },
    (e) => {
      failure = { e };
      settled = true;
      wake?.();
    },
  );
  return {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        while (queue.length > 0) yield queue.shift() as string;
        if (settled) break;
        await new Promise<void>((r) => {
          wake = r;
        });
        wake = undefined;
      }
      await done;
      if (failure) throw failure.e;
    },
  };
}

function filterOf(sel: Selection, opts: Record<string, unknown>): string {
  const terms: string[] = [];
  const search = (opts.search as string | undefined) ?? sel.search;
  if (search) terms.push(search);
  if (sel.name) terms.push(`name_label=${quoteSearchValue(sel.name)}`);
  if (sel.id) terms.push(`uuid=${quoteSearchValue(sel.id)}`);
  return terms.join(' and ');
}

function eventLine(ev: { class: string; operation: string; ref: string; snapshot?: Rec }): string {
  const s = ev.snapshot ?? {};
  if (ev.class === 'message' && ev.snapshot)
    return `message.${ev.operation} ${s.name} on ${s.cls} ${s.obj_uuid}`;
  const label = s.name_label ?? s.name_description ?? '';
  return `${ev.class}.${ev.operation} ${s.uuid ?? ev.ref}${label ? ` ${label}` : ''}`;
}

const listEvents: VerbSpec = {
  name: 'list',
  summary: 'events since a token (-f on the noun; default now, waiting -t seconds), then the next token',
  examples: ['berth event -c vm list -t 10', 'berth event -f "$TOKEN" list'],
  options: [
    classOption,
    {
      short: 't',
      long: 'timeout',
      help: 'seconds to wait for events (default 5, 0 with -f)',
      kind: 'value',
      type: 'int',
    },
  ],
  target: 'none',
  run: async (ctx) => {
    const classes = (ctx.opts.class as string[] | undefined) ?? ['*'];
    const from = ctx.selection.from as string | undefined;
    const token = from ?? ((await ctx.api.call('event.from', [], '', 0)) as { token: string }).token;
    const timeout = (ctx.opts.timeout as number | undefined) ?? (from ? 0 : 5);
    const terms = parseOptionalSearch(filterOf(ctx.selection, {}));
    const batch = (await ctx.api.call('event.from', classes, token, timeout)) as {
      events: { class: string; operation: string; ref: string; snapshot?: Rec }[];
      token: string;
    };
    const lines = batch.events
      .filter((ev) => terms.length === 0 || (ev.snapshot !== undefined && matchesSearch(ev.snapshot, terms)))
      .map(eventLine);
    return streamLines(async (emit) => {
      for (const l of lines) emit(l);
      emit(`token ${batch.token}`);
    });
  },
};

const waitEvents: VerbSpec = {
  name: 'wait',
  summary: 'wait for events: each -w code once (a multiset), stopping at any -b code or after -t seconds',
  examples: [
    'berth event -n web01 wait -w vm.power_state=Running -t 120',
    'berth event wait -s name_label=web01 -w VM_STARTED -b VM_SHUTDOWN',
    'berth event wait -w task.status=success -w task.status=success -b task.status=failure',
  ],
  options: [
    {
      short: 'w',
      long: 'wait-for',
      help: 'an event code to wait for (each occurrence counts once)',
      kind: 'value',
      repeat: true,
      metavar: 'CODE',
    },
    {
      short: 'b',
      long: 'break-on',
      help: 'an event code that stops the wait (exit 251)',
      kind: 'value',
      repeat: true,
      metavar: 'CODE',
    },
    {
      short: 't',
      long: 'timeout',
      help: 'seconds before giving up (default 1000)',
      kind: 'value',
      type: 'int',
    },
    {
      short: 's',
      long: 'search',
      help: 'only events about objects matching this search',
      kind: 'value',
      metavar: 'EXPR',
    },
    classOption,
  ],
  target: 'none',
  run: async (ctx) => {
    const waitFor = (ctx.opts['wait-for'] as string[] | undefined) ?? [];
    const breakOn = (ctx.opts['break-on'] as string[] | undefined) ?? [];
    if (waitFor.length === 0 && breakOn.length === 0)
      throw new CliError('nothing to wait for: give -w CODE or -b CODE', EXIT_USAGE);
    let ready: () => void = () => undefined;
    const started = new Promise<void>((r) => {
      ready = r;
    });
    let emit: (line: string) => void = noEmit;
    const early: string[] = [];
    const waiting = eventWaiter(
      ctx.api,
      filterOf(ctx.selection, ctx.opts),
      null,
      {
        waitFor,
        breakOn,
        timeout: (ctx.opts.timeout as number | undefined) ?? 1000,
        classes: ctx.opts.class as string[] | undefined,
        onEvent: (ev) => {
          const line = `${ev.description}: ${ev.codes.join(', ')}`;
          if (emit === noEmit) early.push(line);
          else emit(line);
        },
      },
      // The body marks the moment the position is taken: the caller may act from then on.
      () => ready(),
    );
    // Bad codes or an unreachable manager fail the verb itself, before any output.
    await Promise.race([started, waiting]);
    return streamLines(async (e) => {
      emit = e;
      for (const l of early.splice(0)) e(l);
      const r = await waiting;
      if (r.brokeOn) throw new CliError(`stopped on event ${r.brokeOn}`, EXIT_FAILED);
    });
  },
};

function noEmit(_line: string): void {}

export const eventNoun: NounSpec = {
  name: 'event',
  summary: 'XenAPI events: list changes since a token, wait for event codes',
  listColumns: ['class', 'operation', 'ref'],
  nounOptions: [
    {
      short: 'f',
      long: 'from',
      help: 'the event.from token to list from (printed last by event list)',
      kind: 'value',
      metavar: 'TOKEN',
    },
  ],
  verbs: [listEvents, waitEvents],
};
