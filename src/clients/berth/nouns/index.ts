// Every noun of the `berth` CLI, in the order `berth -h` lists them. Each noun lives in its own
// file and declares its verbs (spec.ts); add a noun by adding it here.
import type { NounSpec } from '../spec.js';
import { snapshotNoun } from './snapshot.js';
import { templateNoun } from './template.js';
import { vbdNoun } from './vbd.js';
import { vdiNoun } from './vdi.js';
import { vifNoun } from './vif.js';
import { vmNoun } from './vm.js';

export const NOUNS: NounSpec[] = [vmNoun, templateNoun, snapshotNoun, vdiNoun, vbdNoun, vifNoun];
