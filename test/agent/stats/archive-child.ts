// An agent process whose scripted sampler reports one VM, for archive.test.ts to SIGKILL.
// argv: <dir> <archive interval ms> <step ms>; prints "cycle <i>" as each reading is taken.
import { join } from 'node:path';
import type { HostSample } from '../../../src/agent/stats/sample.js';
import { startAgentIn } from '../../helpers/test-agent.js';
import { CHILD_VM, ScriptedSampler } from './scripted-sampler.js';

class Noisy extends ScriptedSampler {
  override async sample(): Promise<HostSample> {
    const s = await super.sample();
    process.stdout.write(`cycle ${this.i - 1}\n`);
    return s;
  }
}

const [dir, interval, step] = process.argv.slice(2);
await startAgentIn(join(dir, 'agent'), {
  stateRoot: join(dir, 'state'),
  stats: {
    sampler: new Noisy({ vms: [CHILD_VM] }),
    archiveIntervalMs: Number(interval),
    stepMs: Number(step),
  },
});
process.stdout.write('ready\n');
