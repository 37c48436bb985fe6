// Nouns for eval tests while the noun slices land in parallel: the real NOUNS win by name, these
// fill in the nouns the tests and samples use (declared as the noun slices declare them).
import { NOUNS } from '../../src/clients/berth/nouns/index.js';
import type { NounSpec } from '../../src/clients/berth/spec.js';
import { exportVerb } from '../../src/clients/berth/verbs/export.js';
import { listVerb } from '../../src/clients/berth/verbs/list.js';

const generic = () => [listVerb(), exportVerb()];
const noun = (name: string, xapiClass: string, extra: Partial<NounSpec> = {}): NounSpec => ({
  name,
  summary: `${name} (test)`,
  xapiClass,
  listColumns: ['uuid', 'name_label'],
  verbs: generic(),
  ...extra,
});

const STAND_INS: NounSpec[] = [
  noun('vm', 'VM', {
    filter: (r) => !r.is_a_template && !r.is_control_domain && !r.is_a_snapshot,
  }),
  noun('template', 'VM', { filter: (r) => r.is_a_template === true && !r.is_a_snapshot }),
  noun('host', 'host'),
  noun('pool', 'pool', { aliases: ['cluster', 'datacenter'] }),
  noun('sr', 'SR', { aliases: ['storagedomain'] }),
  noun('vdi', 'VDI', { aliases: ['disk'] }),
  noun('vbd', 'VBD', { listColumns: ['uuid', 'device'] }),
  noun('network', 'network'),
  noun('vif', 'VIF', { aliases: ['nic'], listColumns: ['uuid', 'device'] }),
  noun('pif', 'PIF', { listColumns: ['uuid', 'device'] }),
  noun('task', 'task', { aliases: ['job'] }),
  noun('message', 'message', { nameField: 'name', listColumns: ['uuid', 'name'] }),
];

export const TEST_NOUNS: NounSpec[] = [
  ...NOUNS,
  ...STAND_INS.filter((s) => !NOUNS.some((n) => n.name === s.name)),
];
