// Placeholder until the eval slice's runner is merged (it replaces this file).
import type { Api } from '../api.js';
import { CliError, EXIT_USAGE } from '../errors.js';
import type { Output } from '../spec.js';

export async function runEval(_connect: () => Promise<Api>, _out: Output, _argv: string[]): Promise<number> {
  throw new CliError('eval is not built yet', EXIT_USAGE);
}
