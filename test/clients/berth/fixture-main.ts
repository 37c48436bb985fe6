// The `berth` process over the test nouns (for tests of process behaviour: Ctrl-C).
import { runAsProcess } from '../../../src/clients/berth/process.js';
import { TEST_NOUNS } from './fixtures.js';

runAsProcess(TEST_NOUNS);
