// Every noun of the `berth` CLI, in the order `berth -h` lists them. Each noun lives in its own
// file and declares its verbs (spec.ts); add a noun by adding it here.
import type { NounSpec } from '../spec.js';
import { hostNoun } from './host.js';
import { networkNoun } from './network.js';
import { pifNoun } from './pif.js';
import { poolNoun } from './pool.js';
import { srNoun } from './sr.js';

export const NOUNS: NounSpec[] = [hostNoun, poolNoun, srNoun, networkNoun, pifNoun];
