// `export [field [field…]]`: a dump of each selected object, or of the objects and values a path
// of fields leads to (oVirtCmd's sub-entry export). Owned by the templates/export slice.
import type { VerbSpec } from '../spec.js';

export function exportVerb(): VerbSpec {
  return {
    name: 'export',
    summary: 'dump the selected objects, or the sub-entries a path of fields leads to',
    target: 'many',
    run: async (_ctx, target) => ({ records: Array.isArray(target) ? target : target ? [target] : [] }),
  };
}
