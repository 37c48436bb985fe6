// The `berth` command line: `berth [global opts] <noun> [noun opts] <verb> [verb opts] [args]`,
// `berth [global opts] eval …` and `berth completion bash|zsh`. Each level's options are read
// by grammar.ts up to the next term; this module only walks the levels and names what it found.
import { CliError, EXIT_USAGE } from './errors.js';
import { type LevelOption, parseLevel } from './grammar.js';
import { parseSize } from './size.js';
import type { NounSpec, OptionSpec, VerbSpec } from './spec.js';

export const GLOBAL_OPTIONS: LevelOption[] = [
  {
    short: 'c',
    long: 'config',
    kind: 'value',
    metavar: 'FILE',
    help: 'the ini file (default $BERTHCONFIG, else ~/.config/berth/berth.ini)',
  },
  { short: 'd', long: 'debug', kind: 'flag', help: 'print each call, and stack traces on errors' },
  { long: 'passwordfile', kind: 'value', metavar: 'FILE', help: "the password: the file's content" },
  {
    short: 'u',
    long: 'username',
    longAliases: ['user'],
    kind: 'value',
    metavar: 'USER',
    help: 'the user to log in as',
  },
  { short: 'k', long: 'kerberos', kind: 'flag', help: 'log in with Kerberos' },
  {
    short: 'o',
    long: 'output',
    kind: 'value',
    metavar: 'FORMAT',
    help: 'table, json, yaml, xml or text (default: table on a terminal, text in a pipe)',
  },
  { long: 'url', kind: 'value', help: "the manager's URL (https://host/)" },
  {
    long: 'ca-file',
    kind: 'value',
    metavar: 'FILE',
    help: "CA certificates (PEM) to verify the manager's with",
  },
  { long: 'insecure', kind: 'flag', help: "do not verify the manager's TLS certificate" },
];

export const NOUN_OPTIONS: OptionSpec[] = [
  { short: 'i', long: 'id', kind: 'value', help: 'object ID (uuid or OpaqueRef)' },
  { short: 'n', long: 'name', kind: 'value', help: 'object name' },
  {
    short: 's',
    long: 'search',
    kind: 'value',
    help: "search expression: field=value, field!=value, field~text, joined by 'and'",
  },
];

export const TEMPLATE_OPTIONS: OptionSpec[] = [
  { short: 'T', long: 'template', kind: 'value', metavar: 'FILE', help: 'a YAML template of the options' },
  {
    short: 'V',
    long: 'variable',
    kind: 'pair',
    repeat: true,
    metavar: 'NAME',
    help: 'a template variable',
  },
];

/** Words at the noun's place that are not nouns. */
export const RESERVED_WORDS = ['eval', 'completion'];
/** The hidden word the completion scripts call. */
export const COMPLETE_WORD = '__complete';

export function nounOptions(noun: NounSpec): OptionSpec[] {
  return [...NOUN_OPTIONS, ...(noun.nounOptions ?? [])];
}

export function verbOptions(verb: VerbSpec): OptionSpec[] {
  return [...(verb.options ?? []), ...(verb.usesTemplate ? TEMPLATE_OPTIONS : [])];
}

export function findNoun(nouns: NounSpec[], word: string): NounSpec | undefined {
  return nouns.find((n) => n.name === word) ?? nouns.find((n) => n.aliases?.includes(word));
}

export function findVerb(noun: NounSpec, word: string): VerbSpec | undefined {
  return noun.verbs.find((v) => v.name === word) ?? noun.verbs.find((v) => v.aliases?.includes(word));
}

export type Command =
  | { kind: 'help'; level: 'global' }
  | { kind: 'help'; level: 'noun'; noun: NounSpec }
  | { kind: 'help'; level: 'verb'; noun: NounSpec; verb: VerbSpec }
  | { kind: 'eval'; global: Record<string, unknown>; argv: string[] }
  | { kind: 'completion'; global: Record<string, unknown>; shell: string | undefined }
  | { kind: 'complete'; global: Record<string, unknown>; words: string[] }
  | {
      kind: 'verb';
      global: Record<string, unknown>;
      noun: NounSpec;
      nounOpts: Record<string, unknown>;
      /** The verb word as typed; `verb` is undefined when no verb has that name. */
      verbWord: string;
      verb?: VerbSpec;
      verbOpts: Record<string, unknown>;
      args: string[];
    };

/** Walks the levels of `argv`. Usage errors are CliErrors (253); an unknown verb is left to the runner. */
export function parseCommand(argv: string[], nouns: NounSpec[]): Command {
  const g = parseLevel(argv, GLOBAL_OPTIONS);
  if (g.help) return { kind: 'help', level: 'global' };
  const [nounWord, ...afterNoun] = g.rest;
  if (nounWord === undefined) throw new CliError('object missing', EXIT_USAGE);
  if (nounWord === 'eval') return { kind: 'eval', global: g.opts, argv: afterNoun };
  if (nounWord === 'completion') return { kind: 'completion', global: g.opts, shell: afterNoun[0] };
  if (nounWord === COMPLETE_WORD) return { kind: 'complete', global: g.opts, words: afterNoun };
  const noun = findNoun(nouns, nounWord);
  if (!noun) throw new CliError(`unknown object: ${nounWord}`, EXIT_USAGE);
  const n = parseLevel(afterNoun, nounOptions(noun), parseSize);
  if (n.help) return { kind: 'help', level: 'noun', noun };
  const [verbWord, ...afterVerb] = n.rest;
  if (verbWord === undefined) throw new CliError('verb missing', EXIT_USAGE);
  const verb = findVerb(noun, verbWord);
  if (!verb)
    return { kind: 'verb', global: g.opts, noun, nounOpts: n.opts, verbWord, verbOpts: {}, args: afterVerb };
  const v = parseLevel(afterVerb, verbOptions(verb), parseSize);
  if (v.help) return { kind: 'help', level: 'verb', noun, verb };
  return {
    kind: 'verb',
    global: g.opts,
    noun,
    nounOpts: n.opts,
    verbWord,
    verb,
    verbOpts: v.opts,
    args: v.rest,
  };
}
