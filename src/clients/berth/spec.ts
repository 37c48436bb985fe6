// The shape every noun and verb of the `berth` CLI is declared with (after oVirtCmd: a noun names
// a kind of XenAPI object, a verb an action on it). The grammar, help, completion, the eval
// context and the docs are all derived from these declarations (nouns/index.ts lists them).
import type { Api, ApiObject } from './api.js';

/** One option of a level (global, noun or verb). Options belong to the term they follow. */
export interface OptionSpec {
  /** Single letter, without the dash (`n` for `-n`). */
  short?: string;
  /** Long name without dashes (`name` for `--name`); also the key in the parsed options. */
  long: string;
  help: string;
  /** `flag` takes no value, `value` one word, `pair` two (`-V name value`). */
  kind: 'flag' | 'value' | 'pair';
  /** Repeatable: values collect into an array (pairs into a record). */
  repeat?: boolean;
  metavar?: string;
  /** How a `value` is checked and converted: `int` → number, `size` → bytes (`2G`). */
  type?: 'string' | 'int' | 'size';
}

/** What the user selected with the noun options (`-i`, `-n`, `-s`, and any noun extras). */
export interface Selection {
  id?: string;
  name?: string;
  search?: string;
  [extra: string]: unknown;
}

/** The outputs a verb can ask for; the runner applies oVirtCmd's print rules to them. */
export type VerbOutcome =
  | undefined // nothing printed, exit 0
  | boolean // true → `success`; false → `'<noun> <verb>' failed` (exit 251)
  | string // printed as is
  | ApiObject // printed as its reference line (`<noun> <uuid> <name>`) or in the -o format
  | { records: ApiObject[]; columns?: string[] } // a listing, printed as table/json/yaml/xml/text
  | { exitCode: number; message?: string } // an explicit status (host upgrade's 1/2…)
  | AsyncIterable<string>; // lines printed as they come (event wait, migrating -f)

/** Output helpers bound to the terminal: progress bars and colour only on a TTY. */
export interface Output {
  readonly isTTY: boolean;
  readonly colour: boolean;
  /** The `-o` format asked for, if any (table is the default on a terminal, text in a pipe). */
  readonly format?: 'table' | 'json' | 'yaml' | 'xml' | 'text';
  line(text: string): void;
  /** Reports progress (0..1) of a long operation; draws a bar on a TTY, nothing in a pipe. */
  progress(label: string, fraction: number): void;
  /** Ends a progress bar (no-op in a pipe). */
  progressDone(): void;
}

export interface VerbContext {
  api: Api;
  out: Output;
  noun: NounSpec;
  verb: VerbSpec;
  selection: Selection;
  /** Verb options after the template merge (CLI options win); keyed by `long`. */
  opts: Record<string, unknown>;
  /** Positional words after the verb's options. */
  args: string[];
}

export interface VerbSpec {
  name: string;
  aliases?: string[];
  summary: string;
  /** Shown by `-h` at the verb level (`berth vm -n web01 start`). */
  examples?: string[];
  options?: OptionSpec[];
  /** Takes `-T template -V name value` (YAML templates). */
  usesTemplate?: boolean;
  /**
   * What the noun options select before the verb runs: `one` (exactly one object, else "no object
   * found" 252 / "Too many objects" 251), `many` (every match, none → all; list/export), `none`
   * (create-like verbs; the selection is passed but not resolved).
   */
  target: 'one' | 'many' | 'none';
  /** Marks a verb as long-running (progress bar on a terminal). */
  long?: boolean;
  run(ctx: VerbContext, target: ApiObject | ApiObject[] | undefined): Promise<VerbOutcome>;
}

export interface NounSpec {
  name: string;
  /** oVirt's name for the same thing (`disk`, `nic`, `storagedomain`, `job`, `cluster`…). */
  aliases?: string[];
  summary: string;
  /** The XenAPI class behind the noun (`VM`, `SR`…); `undefined` for `system`/`event`. */
  xapiClass?: string;
  /** The field `-n` matches (default `name_label`). */
  nameField?: string;
  /** Records the noun shows: e.g. templates are VMs with `is_a_template`. */
  filter?: (record: Record<string, unknown>) => boolean;
  /** Columns of `list` (table) and of the text line (`{name} {id}` as oVirtCmd by default). */
  listColumns: string[];
  /** Options of this noun besides `-i/-n/-s` (event's `-f/--from`). */
  nounOptions?: OptionSpec[];
  verbs: VerbSpec[];
}
