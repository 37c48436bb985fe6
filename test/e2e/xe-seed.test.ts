// The SDK guide's xe examples, run as bash scripts with the real thin `xe` client on PATH and a
// ~/.xe file, against a whole Berth host (agent and manager as processes, a real TCG guest):
// vm-install from the default template, vm-disk-add, vm-start, event-wait for power-state=running,
// vm-list with params= and --minimal in a pipeline, the guide's "clone-vms" script (shut down,
// clone, start both), vm-shutdown, vm-uninstall destroying the disks; one error and its exit code.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ensureGuest, startStack, waitFor } from '../helpers/stack.js';

const ROOT = join(import.meta.dirname, '../..');

// The guide's clone-vms example (SDK client-examples/bash-cli/clone-vms), as it describes it:
// XE overridable, credentials from ~/.xe, shut the VM down if it runs (waiting for Halted through
// the event system), clone it as cloned_vm, start both again if it was running.
const CLONE_VMS = `#!/bin/bash
if [ -z "\${XE}" ]; then
    XE=xe
fi
if [ ! -e "\${HOME}/.xe" ]; then
    read -p "Server name: " SERVER
    read -p "Username: " USERNAME
    read -p "Password: " PASSWORD
    XE="\${XE} -s \${SERVER} -u \${USERNAME} -pw \${PASSWORD}"
fi
if [ $# -ne 1 ]; then
    echo "usage: $0 <vm uuid>" >&2
    exit 1
fi
vmuuid=$1
\${XE} vm-list params=uuid | grep -q " \${vmuuid}$" || { echo "error: no vm uuid \\"\${vmuuid}\\" found" >&2; exit 2; }
state=$(\${XE} vm-list uuid=\${vmuuid} params=power-state --minimal)
wasrunning=0
if [ "\${state}" == "running" ]; then
    \${XE} vm-shutdown uuid=\${vmuuid}
    \${XE} event-wait class=vm power-state=halted uuid=\${vmuuid}
    wasrunning=1
fi
newuuid=$(\${XE} vm-clone uuid=\${vmuuid} new-name-label=cloned_vm)
if [ "$wasrunning" -eq 1 ]; then
    \${XE} vm-start uuid=\${vmuuid}
    \${XE} vm-start uuid=\${newuuid}
fi
echo "\${newuuid}"
`;

test('the SDK guide xe examples against a running Berth host', { timeout: 600_000 }, async (t) => {
  await ensureGuest();
  const stack = await startStack(t, 19800 + Math.floor(Math.random() * 100));
  await stack.startAgent();
  await stack.startManager();
  const password = readFileSync(join(stack.dir, 'data', 'root-password'), 'utf8').trim();

  // `xe` on PATH (the thin client from source) and root's ~/.xe in a private HOME.
  const home = join(stack.dir, 'home');
  const bin = join(stack.dir, 'bin');
  mkdirSync(home);
  mkdirSync(bin);
  writeFileSync(
    join(home, '.xe'),
    `server=127.0.0.1\nport=${new URL(stack.url).port}\nusername=root\npassword=${password}\nnossl=true\n`,
    { mode: 0o600 },
  );
  writeFileSync(
    join(bin, 'xe'),
    `#!/bin/sh\ncd ${ROOT} && exec ${process.execPath} --import tsx ${ROOT}/src/clients/xe/main.ts "$@"\n`,
  );
  chmodSync(join(bin, 'xe'), 0o755);
  writeFileSync(join(bin, 'clone-vms'), CLONE_VMS);
  chmodSync(join(bin, 'clone-vms'), 0o755);
  const env = { ...process.env, HOME: home, PATH: `${bin}:${process.env.PATH}` };
  const sh = (script: string) => {
    const r = spawnSync('bash', ['-c', script], { env, encoding: 'utf8', timeout: 300_000 });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };
  const ok = (script: string) => {
    const r = sh(`set -e -o pipefail\n${script}`);
    assert.equal(r.code, 0, `${script}\nstdout: ${r.out}\nstderr: ${r.err}`);
    return r.out;
  };

  // Install, add a disk, start, and wait for Running through the event system.
  const vm = ok('xe vm-install template="Berth test guest" new-name-label=seed-vm').trim();
  assert.match(vm, /^[0-9a-f-]{36}$/);
  ok(`xe vm-disk-add uuid=${vm} disk-size=16MiB device=1`);
  const disks = ok(`xe vm-disk-list uuid=${vm}`);
  assert.match(disks, /Disk 0 VDI:/);
  assert.match(disks, /virtual-size \( RO\): 16777216/);
  ok(`xe vm-start uuid=${vm}`);
  ok('xe event-wait class=vm name-label=seed-vm power-state=running');
  // A guest ignores the ACPI power button until its kernel has booted: let it boot before any
  // clean shutdown (the guide's scripts assume booted guests).
  const booted = (u: string) =>
    waitFor(() => stack.consoleLog(u).includes('BERTH-GUEST-READY'), 180_000, `boot of ${u}`);
  await booted(vm);

  // vm-list with params=: the record layout with mode markers, keys padded.
  const listed = ok(`xe vm-list uuid=${vm} params=uuid,name-label,power-state`);
  assert.match(
    listed,
    new RegExp(
      `^uuid \\( RO\\)\\s+: ${vm}\\n\\s+name-label \\( RW\\): seed-vm\\n\\s+power-state \\( RO\\): running\\n`,
      'm',
    ),
  );
  // --minimal in a shell pipeline.
  const names = ok(
    'xe vm-list --minimal power-state=running is-control-domain=false | tr , "\\n" | while read u; do xe vm-param-get uuid=$u param-name=name-label; done',
  );
  assert.equal(names.trim(), 'seed-vm');
  const vbd = ok(`xe vbd-list vm-uuid=${vm} userdevice=1 params=currently-attached --minimal`).trim();
  assert.equal(vbd, 'true', 'the added disk is attached to the running VM');

  // An error: xapi's text, parameters and exit code 1.
  const bad = sh(`xe vm-start uuid=${vm}`);
  assert.equal(bad.code, 1);
  assert.match(
    bad.err,
    /^You attempted an operation on a VM that was not in an appropriate power state at the time/m,
  );
  assert.match(bad.err, new RegExp(`vm: ${vm} \\(seed-vm\\)`));

  // The guide's clone-vms script: shut down, clone, start both.
  const cloned = ok(`clone-vms ${vm}`).trim().split('\n').pop()!;
  assert.match(cloned, /^[0-9a-f-]{36}$/);
  assert.equal(ok(`xe vm-param-get uuid=${cloned} param-name=name-label`).trim(), 'cloned_vm');
  for (const u of [vm, cloned])
    assert.equal(ok(`xe vm-param-get uuid=${u} param-name=power-state`).trim(), 'running');
  const cloneDisk = ok(`xe vbd-list vm-uuid=${cloned} userdevice=1 params=vdi-uuid --minimal`).trim();
  const origDisk = ok(`xe vbd-list vm-uuid=${vm} userdevice=1 params=vdi-uuid --minimal`).trim();
  assert.match(cloneDisk, /^[0-9a-f-]{36}$/);
  assert.notEqual(cloneDisk, origDisk, 'the clone has its own disk');

  // Shut down and uninstall both: the VMs and their disks go.
  await booted(cloned);
  // The original restarted too: its console log (appended across boots) shows a second marker.
  await waitFor(
    () => stack.consoleLog(vm).split('BERTH-GUEST-READY').length > 2,
    180_000,
    'second boot of the original',
  );
  for (const u of [vm, cloned]) {
    ok(`xe vm-shutdown uuid=${u}`);
    ok(`xe event-wait class=vm uuid=${u} power-state=halted`);
    ok(`xe vm-uninstall uuid=${u} force=true`);
  }
  assert.equal(ok('xe vm-list is-control-domain=false --minimal').trim(), '');
  for (const d of [origDisk, cloneDisk]) {
    const gone = sh(`xe vdi-list uuid=${d} --minimal`);
    assert.equal(gone.out.trim(), '', `VDI ${d} destroyed`);
  }
  assert.deepEqual(stack.qemuPids(), []);
});
