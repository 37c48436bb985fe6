// Every noun of the `berth` CLI, in the order `berth -h` lists them. Each noun lives in its own
// file and declares its verbs (spec.ts); add a noun by adding it here.
import type { NounSpec } from '../spec.js';
import { eventNoun } from './event.js';
import { hostNoun } from './host.js';
import { messageNoun } from './message.js';
import { networkNoun } from './network.js';
import { pifNoun } from './pif.js';
import { poolNoun } from './pool.js';
import { roleNoun } from './role.js';
import { snapshotNoun } from './snapshot.js';
import { srNoun } from './sr.js';
import { storageResourceNoun } from './storage-resource.js';
import { systemNoun } from './system.js';
import { taskNoun } from './task.js';
import { templateNoun } from './template.js';
import { userNoun } from './user.js';
import { vbdNoun } from './vbd.js';
import { vdiNoun } from './vdi.js';
import { vifNoun } from './vif.js';
import { vmNoun } from './vm.js';

export const NOUNS: NounSpec[] = [
  vmNoun,
  templateNoun,
  snapshotNoun,
  vdiNoun,
  vbdNoun,
  vifNoun,
  hostNoun,
  poolNoun,
  srNoun,
  networkNoun,
  pifNoun,
  userNoun,
  roleNoun,
  taskNoun,
  eventNoun,
  messageNoun,
  storageResourceNoun,
  systemNoun,
];
