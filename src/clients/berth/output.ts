// How `berth` shows what a verb returns: `table` (the default on a terminal: aligned columns, a
// bold header when colour is allowed), `text` (the default in a pipe: oVirtCmd's `{name} {id}`
// line per object, or a `list -t` format), `json`, `yaml` (loaded lazily) and `xml`. Progress
// bars go to stderr on a terminal only; colour only on a terminal and never with NO_COLOR.
import type { ApiObject } from './api.js';
import { CliError, EXIT_USAGE } from './errors.js';
import type { Output } from './spec.js';

export type Format = 'table' | 'json' | 'yaml' | 'xml' | 'text';
export const FORMATS: Format[] = ['table', 'json', 'yaml', 'xml', 'text'];

export function parseFormat(v: string | undefined): Format | undefined {
  if (v === undefined) return undefined;
  if (!(FORMATS as string[]).includes(v))
    throw new CliError(`unknown output format '${v}' (one of ${FORMATS.join(', ')})`, EXIT_USAGE);
  return v as Format;
}

export interface Streams {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** Colour: on a terminal, unless NO_COLOR is set to anything non-empty (no-color.org). */
export function colourAllowed(isTTY: boolean, env: NodeJS.ProcessEnv): boolean {
  return isTTY && !env.NO_COLOR && env.TERM !== 'dumb';
}

/** A progress line: `\r<label>  42% [########            ]`. */
export function progressLine(label: string, fraction: number): string {
  const pct = Math.max(0, Math.min(100, Math.round(fraction * 100)));
  const width = 30;
  const done = Math.round((pct / 100) * width);
  return `\r${label} ${String(pct).padStart(3)}% [${'#'.repeat(done)}${' '.repeat(width - done)}]`;
}

export function makeOutput(io: Streams, env: NodeJS.ProcessEnv, format: Format | undefined): Output {
  const isTTY = io.stdout.isTTY === true;
  const barOn = io.stderr.isTTY === true;
  let drawing = false;
  return {
    isTTY,
    colour: colourAllowed(isTTY, env),
    format,
    line(text) {
      if (drawing) {
        io.stderr.write('\n');
        drawing = false;
      }
      io.stdout.write(`${text}\n`);
    },
    progress(label, fraction) {
      if (!barOn) return;
      io.stderr.write(progressLine(label, fraction));
      drawing = true;
    },
    progressDone() {
      if (drawing) io.stderr.write('\n');
      drawing = false;
    },
  };
}

/** The format used when -o is not given: table on a terminal, text in a pipe. */
export function effectiveFormat(out: Output): Format {
  return out.format ?? (out.isTTY ? 'table' : 'text');
}

/** A field's value as one line of text: lists comma-joined, maps as `k=v` pairs. */
export function cellText(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (Array.isArray(v)) return v.map(cellText).join(',');
  if (typeof v === 'object')
    return Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${k}=${cellText(x)}`)
      .join('; ');
  return String(v);
}

/** A record's value for a column or placeholder: `id` is the uuid, `name` the name field. */
export function fieldOf(o: ApiObject, field: string, nameField: string): unknown {
  if (field in o.record) return o.record[field];
  if (field === 'id') return o.record.uuid;
  if (field === 'name') return o.record[nameField];
  if (field === 'ref') return o.ref;
  throw new CliError(`unknown field '${field}' (a field of ${o.cls})`, EXIT_USAGE);
}

/**
 * Fills a `list -t` format: `{field}` (or oVirtCmd's `{field!s}`) placeholders, `{{` and `}}`
 * for literal braces.
 */
export function fillTemplate(template: string, o: ApiObject, nameField: string): string {
  return template.replace(/\{\{|\}\}|\{([^{}]*)\}/g, (m, inner: string | undefined) => {
    if (m === '{{') return '{';
    if (m === '}}') return '}';
    const field = (inner ?? '').replace(/!s$/, '').trim();
    if (!field) throw new CliError(`empty placeholder in format '${template}'`, EXIT_USAGE);
    return cellText(fieldOf(o, field, nameField));
  });
}

export const DEFAULT_TEXT_FORMAT = '{name} {id}';

/** Aligned columns with a header (bold when colour is allowed). */
export function renderTable(rows: string[][], header: string[], colour: boolean): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  const head = fmt(header.map((h) => h.toUpperCase()));
  return [colour ? `\x1b[1m${head}\x1b[0m` : head, ...rows.map(fmt)];
}

/** The record as the machine formats carry it: the reference first, then every field. */
export function plainRecord(o: ApiObject): Record<string, unknown> {
  return { ref: o.ref, ...o.record };
}

const XML_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function xmlValue(name: string, v: unknown, indent: string, attrs = ''): string[] {
  const open = XML_NAME.test(name) ? `<${name}${attrs}` : `<field name="${xmlEscape(name)}"${attrs}`;
  const close = XML_NAME.test(name) ? `</${name}>` : '</field>';
  if (Array.isArray(v)) {
    if (v.length === 0) return [`${indent}${open}/>`];
    return [
      `${indent}${open}>`,
      ...v.flatMap((x) => xmlValue('item', x, `${indent}  `)),
      `${indent}${close}`,
    ];
  }
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length === 0) return [`${indent}${open}/>`];
    return [
      `${indent}${open}>`,
      ...entries.flatMap(([k, x]) => xmlValue('entry', x, `${indent}  `, ` key="${xmlEscape(k)}"`)),
      `${indent}${close}`,
    ];
  }
  return [`${indent}${open}>${xmlEscape(v === undefined || v === null ? '' : String(v))}${close}`];
}

/** One object as an XML element named after the noun, a child element per field. */
export function objectXml(o: ApiObject, element: string, indent = ''): string[] {
  return [
    `${indent}<${element} class="${xmlEscape(o.cls)}" ref="${xmlEscape(o.ref)}">`,
    ...Object.entries(o.record).flatMap(([k, v]) => xmlValue(k, v, `${indent}  `)),
    `${indent}</${element}>`,
  ];
}

export interface ListingStyle {
  /** The noun's name (XML element) and name field (`{name}`). */
  noun: string;
  nameField: string;
  columns: string[];
  /** `list -t FORMAT` for the text format. */
  template?: string;
}

/** A listing in the given format, as the lines to print. */
export async function renderListing(
  records: ApiObject[],
  format: Format,
  style: ListingStyle,
  colour: boolean,
): Promise<string[]> {
  switch (format) {
    case 'text':
      return records.map((o) => fillTemplate(style.template ?? DEFAULT_TEXT_FORMAT, o, style.nameField));
    case 'table':
      return renderTable(
        records.map((o) => style.columns.map((c) => cellText(fieldOf(o, c, style.nameField)))),
        style.columns,
        colour,
      );
    case 'json':
      return [JSON.stringify(records.map(plainRecord), null, 2)];
    case 'yaml': {
      const { stringify } = await import('yaml');
      return [stringify(records.map(plainRecord)).trimEnd()];
    }
    case 'xml':
      return [
        '<?xml version="1.0" encoding="UTF-8"?>',
        `<${style.noun}-list>`,
        ...records.flatMap((o) => objectXml(o, style.noun, '  ')),
        `</${style.noun}-list>`,
      ];
  }
}

/** One object a verb returned: its reference line in text, else as a one-object listing. */
export async function renderObject(
  o: ApiObject,
  format: Format,
  style: ListingStyle,
  colour: boolean,
): Promise<string[]> {
  switch (format) {
    case 'text':
      return [
        `${style.noun} ${cellText(o.record.uuid ?? o.ref)} ${cellText(o.record[style.nameField])}`.trimEnd(),
      ];
    case 'json':
      return [JSON.stringify(plainRecord(o), null, 2)];
    case 'yaml': {
      const { stringify } = await import('yaml');
      return [stringify(plainRecord(o)).trimEnd()];
    }
    case 'xml':
      return ['<?xml version="1.0" encoding="UTF-8"?>', ...objectXml(o, style.noun)];
    case 'table':
      return renderListing([o], 'table', style, colour);
  }
}
