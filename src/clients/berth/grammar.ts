// One level of the `berth` grammar (global, noun or verb): its options, parsed as optparse does
// with interspersed arguments disabled — options are read until the first word that is not one,
// so every option belongs to the term it follows (`berth -c f vm` ≠ `berth vm -c f`).
import { CliError, EXIT_USAGE } from './errors.js';
import type { OptionSpec } from './spec.js';

/** `-h/--help`, recognised at every level. */
export const HELP_OPTION: OptionSpec = {
  short: 'h',
  long: 'help',
  kind: 'flag',
  help: 'show this help and exit',
};

/** An option as a level declares it; `longAliases` are other long spellings (`--user`). */
export type LevelOption = OptionSpec & { longAliases?: string[] };

export interface LevelParse {
  /** Options given, keyed by `long`; absent options are absent (oVirtCmd drops None values). */
  opts: Record<string, unknown>;
  /** The words after the level's options (the next term and what follows it). */
  rest: string[];
  help: boolean;
}

function findOption(options: LevelOption[], word: string): LevelOption | undefined {
  if (word.startsWith('--')) {
    const long = word.slice(2);
    return options.find((o) => o.long === long || o.longAliases?.includes(long));
  }
  return options.find((o) => o.short === word.slice(1));
}

function noSuchOption(word: string): CliError {
  return new CliError(`no such option: ${word}`, EXIT_USAGE);
}

function convert(o: OptionSpec, raw: string, sizeOf: (text: string) => number): unknown {
  if (o.type === 'int') {
    if (!/^-?\d+$/.test(raw))
      throw new CliError(`option --${o.long}: invalid integer value: '${raw}'`, EXIT_USAGE);
    return Number(raw);
  }
  if (o.type === 'size') return sizeOf(raw);
  return raw;
}

function store(opts: Record<string, unknown>, o: OptionSpec, value: unknown): void {
  if (o.kind === 'pair') {
    const [name, v] = value as [string, string];
    if (o.repeat) {
      const map = (opts[o.long] ?? {}) as Record<string, string>;
      map[name] = v;
      opts[o.long] = map;
    } else opts[o.long] = { [name]: v };
    return;
  }
  if (o.repeat && o.kind === 'value') {
    const list = (opts[o.long] ?? []) as unknown[];
    list.push(value);
    opts[o.long] = list;
    return;
  }
  opts[o.long] = value;
}

/**
 * Parses the options of one level at the front of `argv`. `sizeOf` converts `size` values (the
 * caller passes parseSize; kept as a parameter so this module imports nothing heavy).
 */
export function parseLevel(
  argv: string[],
  options: LevelOption[],
  sizeOf: (text: string) => number = Number,
): LevelParse {
  const all = [HELP_OPTION, ...options];
  const opts: Record<string, unknown> = {};
  let help = false;
  let i = 0;
  while (i < argv.length) {
    const word = argv[i];
    if (word === '--') {
      i++;
      break;
    }
    if (!word.startsWith('-') || word === '-') break;
    i++;
    // --long=value
    if (word.startsWith('--') && word.includes('=')) {
      const eq = word.indexOf('=');
      const o = findOption(all, word.slice(0, eq));
      if (!o) throw noSuchOption(word.slice(0, eq));
      if (o.kind !== 'value')
        throw new CliError(`${word.slice(0, eq)} option does not take a value`, EXIT_USAGE);
      store(opts, o, convert(o, word.slice(eq + 1), sizeOf));
      continue;
    }
    // A bundle of short options (-dk) or a short option with its value attached (-nweb01).
    const letters = word.startsWith('--') ? [word] : [...word.slice(1)].map((c) => `-${c}`);
    for (let j = 0; j < letters.length; j++) {
      const o = findOption(all, letters[j]);
      if (!o) throw noSuchOption(letters[j]);
      if (o === HELP_OPTION) {
        help = true;
        continue;
      }
      if (o.kind === 'flag') {
        opts[o.long] = true;
        continue;
      }
      const attached = word.startsWith('--') ? '' : word.slice(j + 2);
      const needed = o.kind === 'pair' ? 2 : 1;
      const values = attached ? [attached] : [];
      while (values.length < needed) {
        if (i >= argv.length) {
          const what = needed === 2 ? '2 arguments' : 'an argument';
          throw new CliError(`${letters[j]} option requires ${what}`, EXIT_USAGE);
        }
        values.push(argv[i++]);
      }
      store(opts, o, o.kind === 'pair' ? values : convert(o, values[0], sizeOf));
      break;
    }
  }
  return { opts, rest: argv.slice(i), help };
}

/** The options block of a help text, aligned as optparse prints it. */
export function formatOptions(options: LevelOption[]): string[] {
  const rows = [HELP_OPTION as LevelOption, ...options].map((o) => {
    const meta =
      o.kind === 'flag' ? '' : ` ${o.metavar ?? o.long.toUpperCase()}${o.kind === 'pair' ? ' VALUE' : ''}`;
    const longs = [o.long, ...(o.longAliases ?? [])].map((l) => `--${l}${meta}`);
    const names = [o.short ? `-${o.short}${meta}` : undefined, ...longs].filter(Boolean).join(', ');
    return [names, o.help + (o.repeat ? ' (repeatable)' : '')] as const;
  });
  const width = Math.min(30, Math.max(...rows.map(([n]) => n.length)));
  return rows.flatMap(([names, help]) =>
    names.length > width
      ? [`  ${names}`, `  ${' '.repeat(width)}  ${help}`]
      : [`  ${names.padEnd(width)}  ${help}`],
  );
}
