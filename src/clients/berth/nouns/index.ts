// Every noun of the `berth` CLI, in the order `berth -h` lists them. Each noun lives in its own
// file and declares its verbs (spec.ts); add a noun by adding it here.
import type { NounSpec } from '../spec.js';
import { eventNoun } from './event.js';

export const NOUNS: NounSpec[] = [eventNoun];
