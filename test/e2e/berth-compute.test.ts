// The `berth vm` power verbs on a real guest (agent and manager as processes, QEMU under TCG):
// template instantiate, start -c (console location), statistics, suspend/resume, a clean
// shutdown, autoinstall (a direct-kernel boot whose "installer" powers the guest off, then the
// old boot restored), stop, waitfor, an XVA export read by Python's tarfile, delete.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Api, type ApiObject } from '../../src/clients/berth/api.js';
import { templateNoun } from '../../src/clients/berth/nouns/template.js';
import { vmNoun } from '../../src/clients/berth/nouns/vm.js';
import { connectApi, runVerb } from '../helpers/berth-verb.js';
import { guestShell, startGuestStack, waitGuestShell } from '../helpers/guest-vm.js';
import {
  createGuestVm,
  consoleLog as poolConsoleLog,
  startMigrationPool,
} from '../helpers/migration-pool.js';
import { GUEST_DIR, waitFor } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';

const BOOT_MS = 180_000;

test('berth vm: start, suspend/resume, shutdown, autoinstall, stop, xva-export, delete', {
  timeout: 900_000,
}, async (t) => {
  const { stack } = await startGuestStack(t, 19300 + Math.floor(Math.random() * 100));
  const api = await connectApi(
    stack.url,
    readFileSync(join(stack.dir, 'data', 'root-password'), 'utf8').trim(),
  );
  t.after(() => api.client.close());
  const dir = tempDir(t);

  const [tmplRef] = (await api.call('VM.get_by_name_label', 'Berth test guest')) as string[];
  const vm = (
    await runVerb(api, templateNoun, 'instantiate', await api.byRef('VM', tmplRef), { name: 'compute-e2e' })
  ).outcome as ApiObject;
  const uuid = String(vm.record.uuid);
  const shell = guestShell(stack, uuid);
  const state = () => api.call('VM.get_power_state', vm.ref);

  // start -c: the VM runs and the console's location is printed.
  const started = await runVerb(api, vmNoun, 'start', vm, { console: true });
  assert.match(String(started.outcome), /\/console\?ref=OpaqueRef:/);
  assert.equal(await state(), 'Running');
  await waitGuestShell(stack, uuid, BOOT_MS, shell);
  assert.match(String((await runVerb(api, vmNoun, 'ticket', vm)).outcome), /^https?:\/\/.+\/console\?ref=/);

  // statistics: `<name>: <value> <unit> (<type>)`, with the vCPU's.
  const stats = String((await runVerb(api, vmNoun, 'statistics', vm)).outcome).split('\n');
  for (const l of stats) assert.match(l, /^\S+: \S+ .* \((GAUGE|DERIVE|ABSOLUTE)\)$/);
  assert.ok(
    stats.some((l) => l.startsWith('cpu0: ')),
    stats.join('\n'),
  );

  // suspend waits until Suspended; resume brings the same guest back.
  await shell('echo BEFORE-SUSPEND-$((3+4))', /BEFORE-SUSPEND-7/);
  await runVerb(api, vmNoun, 'suspend', vm);
  assert.equal(await state(), 'Suspended');
  assert.deepEqual(stack.qemuPids(), []);
  await runVerb(api, vmNoun, 'resume', vm);
  assert.equal(await state(), 'Running');
  await shell('echo AFTER-RESUME-$((5+6))', /AFTER-RESUME-11/);

  // A disk added to the running VM is hot-plugged; removing it unplugs it first.
  const hot = (await runVerb(api, vmNoun, 'disks', vm, {}, ['add', '--size', '16M', '--name', 'hot']))
    .outcome as ApiObject;
  const [hotVbd] = (await api.call('VDI.get_VBDs', hot.ref)) as string[];
  assert.equal(await api.call('VBD.get_currently_attached', hotVbd), true);
  await runVerb(api, vmNoun, 'disks', vm, {}, ['remove', 'hot']);
  await assert.rejects(api.call('VDI.get_record', hot.ref), /HANDLE_INVALID/);

  // shutdown: clean (the guest's ACPI handler powers it off).
  await runVerb(api, vmNoun, 'shutdown', vm);
  assert.equal(await state(), 'Halted');
  assert.match(stack.consoleLog(uuid), /BERTH-GUEST-POWEROFF/);

  // autoinstall: boots the given kernel with the install command line; the "installer" (the
  // guest's shell) powers off; the old boot settings come back and the VM starts again.
  const before = {
    kernel: await api.call('VM.get_PV_kernel', vm.ref),
    args: await api.call('VM.get_PV_args', vm.ref),
  };
  const install = (
    await runVerb(api, vmNoun, 'autoinstall', vm, {
      kernel: join(GUEST_DIR, 'vmlinuz'),
      initrd: join(GUEST_DIR, 'initrd.img'),
      cmdline: ' console=ttyS0 panic=-1 berth.install=yes ',
    })
  ).outcome as AsyncIterable<string>;
  const steps: string[] = [];
  const logAt = stack.consoleLog(uuid).length;
  for await (const line of install) {
    steps.push(line);
    if (line === 'booted, run installing') {
      assert.equal(await api.call('VM.get_PV_args', vm.ref), 'console=ttyS0 panic=-1 berth.install=yes');
      await waitFor(
        () => stack.consoleLog(uuid).slice(logAt).includes('BERTH-GUEST-READY'),
        BOOT_MS,
        'installer boot',
      );
      await shell('grep -o berth.install=yes /proc/cmdline; poweroff -f', /berth\.install=yes/);
    }
  }
  assert.deepEqual(steps, ['booted, run installing', 'done']);
  assert.equal(await state(), 'Running');
  assert.equal(await api.call('VM.get_PV_kernel', vm.ref), before.kernel);
  assert.equal(await api.call('VM.get_PV_args', vm.ref), before.args);

  // stop: hard; waitfor sees it (any case).
  await runVerb(api, vmNoun, 'stop', vm);
  await runVerb(api, vmNoun, 'waitfor', vm, { status: 'hAlTeD', timeout: 30 });
  assert.deepEqual(stack.qemuPids(), []);

  // xva-export of the halted VM: a tar with ova.xml first.
  const file = join(dir, 'e2e.xva');
  await runVerb(api, vmNoun, 'xva-export', vm, {}, [file]);
  const names = execFileSync('/usr/bin/python3', [
    '-c',
    'import sys, tarfile\nwith tarfile.open(sys.argv[1]) as t: print(t.getnames()[0])',
    file,
  ])
    .toString()
    .trim();
  assert.equal(names, 'ova.xml');

  assert.equal((await runVerb(api, vmNoun, 'delete', vm)).outcome, true);
  await assert.rejects(api.call('VM.get_record', vm.ref), /HANDLE_INVALID/);
});

test('berth vm migrate: a running guest moves to the other host with progress; migrating shows it', {
  timeout: 900_000,
}, async (t) => {
  const {
    hosts: [a],
    refs: [aRef, bRef],
    master,
  } = await startMigrationPool(t, { sharedSr: false });
  const api = new Api(master);
  const { vm: vmRef, uuid } = await createGuestVm(master, 'berth-migrant');
  await master.call('VM.start_on', vmRef, aRef, false, false);
  await waitFor(() => poolConsoleLog(a, uuid).includes('BERTH-GUEST-READY'), BOOT_MS, 'the guest booted');
  const vm = await api.byRef('VM', vmRef);

  // Capped so that the migration lasts long enough to be seen by `migrating`.
  const moving = runVerb(api, vmNoun, 'migrate', vm, {
    host: String(await master.call('host.get_uuid', bRef)),
    bandwidth: '8M',
  });
  const seen: string[] = [];
  let done = false;
  void moving.finally(() => {
    done = true;
  });
  while (!done && !seen.some((l) => l.startsWith('berth-migrant '))) {
    const round = (await runVerb(api, vmNoun, 'migrating', [vm])).outcome as AsyncIterable<string>;
    for await (const l of round) seen.push(l);
  }
  const { outcome, out } = await moving;
  assert.equal(outcome, true);
  assert.ok(
    seen.some((l) => /^berth-migrant \d{1,3}%$/.test(l)),
    `migrating showed the VM: ${seen.join(' | ')}`,
  );
  // The bar's values: fractions that never go back, reaching the end.
  assert.ok(out.progressSeen.length > 1, String(out.progressSeen));
  for (let i = 1; i < out.progressSeen.length; i++) assert.ok(out.progressSeen[i] >= out.progressSeen[i - 1]);
  assert.ok(out.progressSeen.every((p) => p >= 0 && p <= 1));
  assert.equal(await master.call('VM.get_resident_on', vmRef), bRef);
  await runVerb(api, vmNoun, 'stop', vm);
});
