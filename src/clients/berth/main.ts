#!/usr/bin/env node
// berth: the noun/verb CLI over Berth's API (after oVirtCmd). Exit codes: 0, 253 usage or
// configuration, 252 not found, 251 failed, 1 interrupted (Ctrl-C).
import { NOUNS } from './nouns/index.js';
import { runAsProcess } from './process.js';

runAsProcess(NOUNS);
