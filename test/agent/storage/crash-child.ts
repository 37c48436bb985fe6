// Runs one storage procedure in its own process so a test can SIGKILL it mid-way.
// argv: <op> <json args>
import * as proc from '../../../src/agent/storage/procedures.js';

const [op, json] = process.argv.slice(2);
const a = JSON.parse(json);
const ctx = { allowedRoots: a.roots, stateDir: a.state };
if (op === 'copy') await proc.blockdev_convert(ctx, a.src, a.location, a.dst, a.newUuid);
else if (op === 'clone') await proc.blockdev_snapshot(ctx, a.src, a.location, a.newUuid);
else throw new Error(`unknown op ${op}`);
process.stdout.write('done\n');
