// bench:cli's `berth`: the real runner and registry, plus a bench-only `vm` noun (list over the
// VM class, templates and dom0 left out) while the real `vm` noun is not in the registry. Same
// process wrapper as src/clients/berth/main.ts, so its start-up is the CLI's.
import { NOUNS } from '../src/clients/berth/nouns/index.js';
import { runAsProcess } from '../src/clients/berth/process.js';
import type { NounSpec } from '../src/clients/berth/spec.js';
import { listVerb } from '../src/clients/berth/verbs/list.js';

const BENCH_VM: NounSpec = {
  name: 'vm',
  summary: 'virtual machines (bench-only noun)',
  xapiClass: 'VM',
  filter: (r) => r.is_a_template !== true && r.is_control_domain !== true,
  listColumns: ['uuid', 'name_label', 'power_state'],
  verbs: [listVerb()],
};

const nouns = NOUNS.some((n) => n.name === 'vm') ? NOUNS : [...NOUNS, BENCH_VM];
runAsProcess(nouns);
