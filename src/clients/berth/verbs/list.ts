// `list [-t FORMAT]`: every object the noun options select (all when none), printed as a listing
// (table / text / json / yaml / xml by -o), or one line per object filled from `-t`'s `{field}`
// placeholders (oVirtCmd's `list -t`; `{name}` is the noun's name field, `{id}` the uuid).
import { CliError, EXIT_USAGE } from '../errors.js';
import { fillTemplate } from '../output.js';
import type { VerbSpec } from '../spec.js';

export function listVerb(): VerbSpec {
  return {
    name: 'list',
    summary: 'list the objects selected (all when no -i/-n/-s)',
    examples: ['berth vm list', "berth vm -s 'power_state=running' list -t '{name} {power_state}'"],
    options: [
      {
        short: 't',
        long: 'format',
        kind: 'value',
        metavar: 'FORMAT',
        help: "one line per object with {field} placeholders (default '{name} {id}' in a pipe)",
      },
    ],
    target: 'many',
    run: async (ctx, target) => {
      const records = Array.isArray(target) ? target : target ? [target] : [];
      const format = ctx.opts.format;
      if (typeof format !== 'string') return { records };
      if (ctx.out.format !== undefined && ctx.out.format !== 'text')
        throw new CliError(
          `list -t prints text lines; it does not combine with -o ${ctx.out.format}`,
          EXIT_USAGE,
        );
      const nameField = ctx.noun.nameField ?? 'name_label';
      return (async function* () {
        for (const o of records) yield fillTemplate(format, o, nameField);
      })();
    },
  };
}
