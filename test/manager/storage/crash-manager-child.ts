// A whole manager process that starts a VDI.copy of a large VDI, for a test to SIGKILL mid-way.
// argv: <dataDir>
import { join } from 'node:path';
import { parseConfig } from '../../../src/manager/config.js';
import { Manager } from '../../../src/manager/manager.js';
import { runChecked } from '../../../src/shared/exec.js';
import { startAgentIn } from '../../helpers/test-agent.js';

const dataDir = process.argv[2];
const config = parseConfig(
  ['--data-dir', dataDir, '--http-port', 'off', '--https-port', 'off', '--socket', join(dataDir, 'x.sock')],
  {},
);
// The host agent runs in this process: it dies with it, as a host's would not (its storage is on disk).
const { client } = await startAgentIn(join(dataDir, 'agent'), { stateRoot: dataDir });
const m = await Manager.open(config, { timers: false, agent: client, networking: false });
const s = m.svc.sessions.validate(m.svc.sessions.localLogin());
const pool = [...m.db.all('pool').keys()][0];
const sr = String(m.db.get('pool', pool)!.default_SR);
const vdi = (await m.svc.call(s, 'VDI.create', [
  {
    SR: sr,
    virtual_size: 512 * 1024 * 1024,
    type: 'user',
    sharable: false,
    read_only: false,
    other_config: {},
    name_label: 'big',
  },
])) as string;
const path = join(dataDir, 'sr', 'default', `${m.db.get('VDI', vdi)!.uuid}.qcow2`);
await runChecked('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x42 0 384M', path]);
process.stdout.write(`copying ${vdi}\n`);
await m.svc.call(s, 'VDI.copy', [vdi, 'OpaqueRef:NULL', 'OpaqueRef:NULL', 'OpaqueRef:NULL']);
process.stdout.write('copied\n');
