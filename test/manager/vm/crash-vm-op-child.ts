// A whole manager process that leaves VM operations in flight, for a test to SIGKILL it:
// argv: <dataDir> start   — VM.start on VM "a" whose agent never answers
//       <dataDir> clone N — N parallel VM.clone of VM "src" (with a disk) that never all finish
import { join } from 'node:path';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { parseConfig } from '../../../src/manager/config.js';
import { Manager } from '../../../src/manager/manager.js';
import { runChecked } from '../../../src/shared/exec.js';
import { startAgentIn, withRealStorage } from '../../helpers/test-agent.js';
import { FakeAgent } from './fake-agent.js';
import { vbdRecord, vdiRecord } from '../../helpers/records.js';

const [dataDir, mode, count] = process.argv.slice(2);
const config = parseConfig(
  ['--data-dir', dataDir, '--http-port', 'off', '--https-port', 'off', '--socket', join(dataDir, 'x.sock')],
  {},
);
const m = await Manager.open(config, {
  timers: false,
  // Storage over a real agent in this process (dies with it); instances are the fake's.
  agent: withRealStorage(
    new FakeAgent({ hangStart: true }),
    (await startAgentIn(join(dataDir, 'agent'), { stateRoot: dataDir })).client,
  ),
  networking: false,
});
const s = m.svc.sessions.validate(m.svc.sessions.localLogin());
const call = (wire: string, ...args: unknown[]) => m.svc.call(s, wire, args);

if (mode === 'start') {
  const vm = (await call('VM.create', baseVmRecord({ name_label: 'a' }))) as string;
  const task = (await call('Async.VM.start', vm, false, false)) as string;
  while (Object.keys(m.db.get('VM', vm)!.current_operations as object).length === 0)
    await new Promise((r) => setTimeout(r, 5));
  process.stdout.write(`started ${vm} ${task}\n`);
} else {
  // N source VMs with two disks each: a small empty one (copied at once) and one with 256 MiB of
  // data (its copy takes long enough to be killed in), each copied (VM.copy) and one cloned.
  const sr = String(m.db.get('pool', [...m.db.all('pool').keys()][0])!.default_SR);
  const sources: string[] = [];
  for (let n = 0; n < Number(count); n++) {
    const vm = (await call('VM.create', baseVmRecord({ name_label: `src${n}` }))) as string;
    for (const [i, size] of [16 << 20, 256 << 20].entries()) {
      const vdi = (await call(
        'VDI.create',
        vdiRecord(sr, size, { type: 'system', name_label: `d${i}` }),
      )) as string;
      await call('VBD.create', vbdRecord(vm, vdi, { userdevice: String(i), bootable: i === 0 }));
      if (i === 1) {
        const path = join(dataDir, 'sr', 'default', `${m.db.get('VDI', vdi)!.uuid}.qcow2`);
        await runChecked('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 256M', path]);
      }
    }
    sources.push(vm);
  }
  const clones = (await Promise.all(sources.map((vm, i) => call('VM.clone', vm, `clone${i}`)))) as string[];
  process.stdout.write(`cloned ${clones.length}\n`);
  const copies = Promise.all(sources.map((vm, i) => call('VM.copy', vm, `copy${i}`, 'OpaqueRef:NULL')));
  // Tell the parent once some copy has a disk but not all of them: the moment to kill.
  for (;;) {
    const half = [...m.db.all('VM').values()].some(
      (r) => String(r.name_label).startsWith('copy') && (r.VBDs as string[]).length === 1,
    );
    if (half) break;
    await new Promise((r) => setTimeout(r, 2));
  }
  process.stdout.write('half\n');
  await copies;
  process.stdout.write('all copied\n');
}
