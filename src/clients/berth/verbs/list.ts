// `list`: every object the noun options select (all when none), printed as a listing.
import type { VerbSpec } from '../spec.js';

export function listVerb(): VerbSpec {
  return {
    name: 'list',
    summary: 'list the objects selected (all when no -i/-n/-s)',
    target: 'many',
    run: async (_ctx, target) => ({ records: Array.isArray(target) ? target : target ? [target] : [] }),
  };
}
