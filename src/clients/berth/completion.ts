// Shell completion. The scripts are tiny: they hand the words typed so far to the hidden
// `berth __complete WORD…` and offer what it prints (falling back to file names when it prints
// nothing). All the logic lives here, walking the same declarations as the parser: nouns, verbs,
// each level's options, output formats, and object names/uuids after -n/-i (read from the API).
import type { Api } from './api.js';
import { closeApi } from './connect.js';
import { CliError, EXIT_USAGE } from './errors.js';
import { HELP_OPTION, type LevelOption } from './grammar.js';
import { FORMATS } from './output.js';
import { findNoun, findVerb, GLOBAL_OPTIONS, nounOptions, RESERVED_WORDS, verbOptions } from './parse.js';
import type { NounSpec } from './spec.js';

/** What to offer for the word being typed: words, or object names/uuids of a noun. */
export type Completion = { words: string[] } | { objects: NounSpec; field: string };

function optionWords(options: LevelOption[]): string[] {
  return [HELP_OPTION as LevelOption, ...options].flatMap((o) => [
    ...(o.short ? [`-${o.short}`] : []),
    `--${o.long}`,
    ...(o.longAliases ?? []).map((l) => `--${l}`),
  ]);
}

function optionOf(options: LevelOption[], word: string): LevelOption | undefined {
  if (word.startsWith('--')) {
    const long = word.slice(2).split('=')[0];
    if (word.includes('=')) return undefined; // value attached
    return options.find((o) => o.long === long || o.longAliases?.includes(long));
  }
  if (/^-[A-Za-z]$/.test(word)) return options.find((o) => o.short === word[1]);
  return undefined;
}

/**
 * Skips one level's options in `words` from `i`; returns the index of the next term, or the
 * option whose value is being typed (when the words end inside it).
 */
function skipLevel(
  words: string[],
  i: number,
  options: LevelOption[],
): { next: number; pending?: LevelOption } {
  while (i < words.length && words[i].startsWith('-') && words[i] !== '--') {
    const o = optionOf(options, words[i]);
    i++;
    if (!o || o.kind === 'flag') continue;
    const needed = o.kind === 'pair' ? 2 : 1;
    if (i + needed > words.length) return { next: words.length, pending: o };
    i += needed;
  }
  if (words[i] === '--') i++;
  return { next: i };
}

/** Pure: what completes the word after `words` (the words already typed after `berth`). */
export function completeWords(words: string[], nouns: NounSpec[]): Completion {
  const g = skipLevel(words, 0, GLOBAL_OPTIONS);
  if (g.pending) return { words: g.pending.long === 'output' ? [...FORMATS] : [] };
  if (g.next >= words.length)
    return { words: [...optionWords(GLOBAL_OPTIONS), ...nouns.map((n) => n.name), ...RESERVED_WORDS] };
  const nounWord = words[g.next];
  if (nounWord === 'completion') return { words: g.next + 1 >= words.length ? ['bash', 'zsh'] : [] };
  if (nounWord === 'eval') return { words: [] };
  const noun = findNoun(nouns, nounWord);
  if (!noun) return { words: [] };
  const n = skipLevel(words, g.next + 1, nounOptions(noun));
  if (n.pending) {
    if (n.pending.long === 'name') return { objects: noun, field: noun.nameField ?? 'name_label' };
    if (n.pending.long === 'id') return { objects: noun, field: 'uuid' };
    return { words: [] };
  }
  if (n.next >= words.length)
    return { words: [...optionWords(nounOptions(noun)), ...noun.verbs.map((v) => v.name)] };
  const verb = findVerb(noun, words[n.next]);
  if (!verb) return { words: [] };
  const v = skipLevel(words, n.next + 1, verbOptions(verb));
  if (v.pending) return { words: [] };
  return { words: v.next >= words.length ? optionWords(verbOptions(verb)) : [] };
}

/** `berth __complete WORD…`: the candidates, one per line; object names come from the API. */
export async function completeCommand(
  words: string[],
  nouns: NounSpec[],
  connect: () => Promise<Api>,
): Promise<string[]> {
  const c = completeWords(words, nouns);
  if ('words' in c) return c.words;
  if (!c.objects.xapiClass) return [];
  let api: Api | undefined;
  try {
    api = await connect();
    const records = await api.allRecords(c.objects.xapiClass);
    const filter = c.objects.filter;
    return records
      .filter((o) => !filter || filter(o.record))
      .map((o) => String(o.record[c.field] ?? ''))
      .filter((s) => s !== '' && !/\s/.test(s))
      .sort();
  } catch {
    return []; // no configuration or no manager: nothing to offer
  } finally {
    if (api) await closeApi(api);
  }
}

const BASH = `# bash completion for berth: source <(berth completion bash)
_berth() {
  local cur=\${COMP_WORDS[COMP_CWORD]} IFS=$'\\n'
  local -a cands
  cands=($(berth __complete "\${COMP_WORDS[@]:1:COMP_CWORD-1}" 2>/dev/null))
  if [ \${#cands[@]} -eq 0 ]; then
    COMPREPLY=($(compgen -f -- "$cur"))
  else
    COMPREPLY=($(compgen -W "\${cands[*]}" -- "$cur"))
  fi
}
complete -o filenames -F _berth berth
`;

const ZSH = `#compdef berth
# zsh completion for berth: source <(berth completion zsh), or save as _berth in $fpath
_berth() {
  local -a cands
  cands=("\${(@f)$(berth __complete "\${(@)words[2,CURRENT-1]}" 2>/dev/null)}")
  cands=(\${cands:#})
  if (( \${#cands} )); then
    compadd -- "\${cands[@]}"
  else
    _files
  fi
}
if [ "\${funcstack[1]}" = _berth ]; then
  _berth "$@"
else
  compdef _berth berth
fi
`;

export function completionScript(shell: string | undefined): string {
  if (shell === 'bash') return BASH;
  if (shell === 'zsh') return ZSH;
  throw new CliError(
    shell ? `unknown shell ${shell} (bash or zsh)` : 'shell missing (bash or zsh)',
    EXIT_USAGE,
  );
}
