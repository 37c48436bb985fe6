// Output as xapi's CLI printer lays it out: record tables, plain lists and messages, and the
// single comma-separated line of --minimal.

export type Table = [string, string][][];

/** The channel the printer writes to (the thin client's stdout and stderr). */
export interface OutputSink {
  print(text: string): void;
  printStderr(text: string): void;
}

/** One record: keys padded to 4 + the longest key, first left-justified, the rest right-justified. */
export function formatRecord(r: [string, string][]): string {
  const width = 4 + Math.max(0, ...r.map(([k]) => k.length));
  return `${r.map(([k, v], i) => `${i === 0 ? k.padEnd(width) : k.padStart(width)}: ${v}`).join('\n')}\n`;
}

/** `\` and `,` escaped, as --minimal output (and bash completion) expects. */
export function escapeCommas(s: string): string {
  return s.replace(/[\\,]/g, (c) => `\\${c}`);
}

/** Wraps command names into xapi's help list lines (4-space indent, new line past 74 columns). */
export function wrapList(names: string[]): string[] {
  const indent = '    ';
  if (names.length === 0) return [];
  const lines: string[] = [];
  let cur = indent + names[0];
  for (const n of names.slice(1)) {
    if (cur.length + n.length > 74) {
      lines.push(cur);
      cur = indent + n;
    } else cur = `${cur}, ${n}`;
  }
  lines.push(cur);
  return lines;
}

export class Printer {
  private readonly minimalBuffer: string[] = [];

  constructor(
    private readonly sink: OutputSink,
    readonly minimal: boolean,
  ) {}

  table(records: Table) {
    if (this.minimal) {
      if (records.length > 0 && records.every((r) => r.length > 0))
        this.minimalBuffer.push(records.map((r) => escapeCommas(r[0][1])).join(','));
      return;
    }
    for (const r of records) this.sink.print(`${formatRecord(r)}\n`);
  }

  list(items: string[]) {
    if (this.minimal) {
      this.minimalBuffer.push(items.map(escapeCommas).join(','));
      return;
    }
    for (const s of items) this.sink.print(s);
  }

  msg(text: string) {
    if (!this.minimal) this.sink.print(text);
  }

  stderr(text: string) {
    if (!this.minimal) this.sink.printStderr(`${text}\n`);
  }

  /** Ends a command: --minimal prints its one line (empty when nothing was collected). */
  flush() {
    if (this.minimal) this.sink.print([...this.minimalBuffer].reverse().join(','));
  }
}
