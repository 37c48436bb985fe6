// `-h/--help` at each level of the grammar, derived from the declarations: usage, the nouns or
// verbs of the level ("nouns are:" / "verbs are:"), its options and examples.
import { formatOptions } from './grammar.js';
import { GLOBAL_OPTIONS, nounOptions, verbOptions } from './parse.js';
import type { NounSpec, VerbSpec } from './spec.js';

function names(items: { name: string; summary: string; aliases?: string[] }[]): string[] {
  const label = (i: { name: string; aliases?: string[] }) =>
    i.aliases?.length ? `${i.name} (${i.aliases.join(', ')})` : i.name;
  const width = Math.max(0, ...items.map((i) => label(i).length));
  return items.map((i) => `    ${label(i).padEnd(width)}  ${i.summary}`.trimEnd());
}

function examples(lines: string[]): string[] {
  return lines.length ? ['', 'examples:', ...lines.map((l) => `  ${l}`)] : [];
}

export function globalHelp(nouns: NounSpec[]): string {
  const first = nouns[0]?.name ?? 'vm';
  return [
    'usage: berth [options] noun [noun_options] verb [verb_options] [args]',
    '       berth [options] eval [-v name value]* [-e env.yaml]* script.mjs [script_args]',
    '       berth completion bash|zsh',
    '',
    'Options belong to the term they follow: `berth -o json vm list` (a global option)',
    'is not `berth vm -o json list`. `berth NOUN -h` lists the verbs of a noun.',
    '',
    'nouns are:',
    ...names(nouns),
    '',
    'options:',
    ...formatOptions(GLOBAL_OPTIONS),
    ...examples([
      `berth ${first} list`,
      `berth -o json ${first} -s 'name_label~web' list`,
      `berth --url https://pool-master/ -u root --passwordfile ~/.berth-pw ${first} list`,
      'berth eval script.mjs',
      'source <(berth completion bash)',
    ]),
    '',
  ].join('\n');
}

export function nounHelp(noun: NounSpec): string {
  const verb = noun.verbs.find((v) => v.target === 'one') ?? noun.verbs[0];
  const nameField = noun.nameField ?? 'name_label';
  return [
    `usage: berth [options] ${noun.name} [noun_options] verb [verb_options] [args]`,
    '',
    noun.summary,
    '',
    'verbs are:',
    ...names(noun.verbs),
    '',
    `options (-n matches ${nameField}; id and name in a search stand for uuid and ${nameField}):`,
    ...formatOptions(nounOptions(noun)),
    ...examples([
      `berth ${noun.name} list`,
      ...(verb && verb.name !== 'list' ? [`berth ${noun.name} -n NAME ${verb.name}`] : []),
      `berth ${noun.name} -s '${nameField}~web and uuid!=X' list`,
    ]),
    '',
  ].join('\n');
}

export function verbHelp(noun: NounSpec, verb: VerbSpec): string {
  const applies =
    verb.target === 'one'
      ? 'It applies to exactly one object selected by the noun options.'
      : verb.target === 'many'
        ? 'It applies to every object the noun options select (all when none).'
        : 'It selects no existing object.';
  return [
    `usage: berth [options] ${noun.name} [noun_options] ${verb.name} [verb_options] [args]`,
    '',
    `${verb.summary}. ${applies}`,
    '',
    'options:',
    ...formatOptions(verbOptions(verb)),
    ...examples(verb.examples ?? []),
    '',
  ].join('\n');
}
