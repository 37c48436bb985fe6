// An ExtStorage SR end to end: the example provider (examples/extstorage/loopfile) in the agent's
// ExtStorage directory, the SR created with `xe sr-create type=ext device-config:provider=…`,
// a VDI on it as a guest's disk (attached as a loop device when the VM starts, detached when it
// stops), the guest writing a marker, VDI.resize and VDI.snapshot through the provider's `grow`
// and `snapshot`, a second guest booted with the snapshot reading the marker and the new size,
// and the original disk hot-plugged into that running guest and unplugged again.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { typeLine } from '../agent/helpers/guest.js';
import { vbdRecord, vdiRecord } from '../helpers/records.js';
import { ensureGuest, startStack, waitFor } from '../helpers/stack.js';

const ROOT = join(import.meta.dirname, '../..');
const MiB = 1024 * 1024;
const BOOT_MS = 120_000;

const loopsOf = (file: string) =>
  execFileSync('losetup', ['-j', file, '-O', 'NAME', '-n'], { encoding: 'utf8' }).trim();

test('ext SR: xe sr-create, a guest on an ExtStorage disk, resize and snapshot', {
  timeout: 600_000,
}, async (t) => {
  await ensureGuest();
  const stack = await startStack(t, 19300 + Math.floor(Math.random() * 100));
  // The agent looks providers up in STATE-ROOT/extstorage (the stack's state root is its dir).
  cpSync(resolve(ROOT, 'examples/extstorage/loopfile'), join(stack.dir, 'extstorage', 'loopfile'), {
    recursive: true,
  });
  const data = join(stack.dir, 'ext-volumes');
  t.after(() => {
    if (!existsSync(data)) return;
    for (const f of readdirSync(data))
      for (const l of loopsOf(join(data, f)).split('\n').filter(Boolean)) execFileSync('losetup', ['-d', l]);
  });
  await stack.startAgent();
  await stack.startManager();
  const c = await stack.client();
  const call = (m: string, ...a: unknown[]) => (c.call as any)(m, ...a) as Promise<any>;

  // xe on a private PATH/HOME, as a user would type it.
  const password = readFileSync(join(stack.dir, 'data', 'root-password'), 'utf8').trim();
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
  const xe = (...args: string[]) => {
    const r = spawnSync(join(bin, 'xe'), args, {
      env: { ...process.env, HOME: home },
      encoding: 'utf8',
      timeout: 120_000,
    });
    return { code: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
  };

  // A provider that does not exist: a clear SM error, no SR.
  const missing = xe('sr-create', 'type=ext', 'name-label=ext-missing', 'device-config:provider=nosuch');
  assert.notEqual(missing.code, 0);
  assert.match(missing.out + missing.err, /provider nosuch not found/);

  const made = xe(
    'sr-create',
    'type=ext',
    'name-label=ext-e2e',
    'device-config:provider=loopfile',
    `device-config:dir=${data}`,
  );
  assert.equal(made.code, 0, made.err);
  const sr = await call('SR.get_by_uuid', made.out);
  assert.equal(await call('SR.get_type', sr), 'ext');
  const sms = await call('SM.get_all_records');
  assert.ok(
    Object.values(sms).some((s: any) => s.type === 'ext'),
    'an SM record for ext',
  );

  const disk = await call('VDI.create', vdiRecord(sr, 16 * MiB, { name_label: 'ext-disk' }));
  const location = await call('VDI.get_location', disk);
  const img = join(data, `${location}.img`);
  assert.ok(existsSync(img), 'the provider made the volume');
  assert.equal(loopsOf(img), '', 'not attached while no VM uses it');

  const [tmpl] = await call('VM.get_by_name_label', 'Berth test guest');
  const makeVm = async (name: string, vdi: string) => {
    const vm = await call('VM.clone', tmpl, name);
    await call('VM.provision', vm);
    await call('VM.set_is_a_template', vm, false);
    await call('VBD.create', vbdRecord(vm, vdi, { unpluggable: true }));
    return { vm, uuid: (await call('VM.get_uuid', vm)) as string };
  };
  // Input typed while the guest's shell is still starting is lost: typed again until it answers.
  const shell = async (uuid: string, line: string, re: RegExp) => {
    let m: RegExpExecArray | null = null;
    for (let attempt = 0; attempt < 4 && !m; attempt++) {
      const from = stack.consoleLog(uuid).length;
      await typeLine(`${stack.runDir}/${uuid}/serial.sock`, line);
      await waitFor(() => (m = re.exec(stack.consoleLog(uuid).slice(from))) !== null, 20_000, `${re}`).catch(
        () => undefined,
      );
    }
    if (!m) throw new Error(`no ${re} on the console: ${JSON.stringify(stack.consoleLog(uuid).slice(-600))}`);
    return m as RegExpExecArray;
  };
  const boot = async (vm: string, uuid: string) => {
    await call('VM.start', vm, false, false);
    await waitFor(() => stack.consoleLog(uuid).includes('BERTH-GUEST-READY'), BOOT_MS, 'boot marker');
  };

  // The guest boots with the ExtStorage disk (a loop device while it runs) and writes a marker.
  const first = await makeVm('ext-e2e-writer', disk);
  await boot(first.vm, first.uuid);
  assert.match(loopsOf(img), /^\/dev\/loop\d+$/, 'attached for the running VM');
  // A clean reboot detaches with the old QEMU and attaches for the new one, in that order.
  const logBefore = stack.consoleLog(first.uuid).length;
  await call('VM.clean_reboot', first.vm);
  await waitFor(
    () => stack.consoleLog(first.uuid).slice(logBefore).includes('BERTH-GUEST-READY'),
    BOOT_MS,
    'boot marker after the reboot',
  );
  assert.match(loopsOf(img), /^\/dev\/loop\d+$/, 'attached again after the reboot');
  await shell(
    first.uuid,
    'echo BERTH-EXT-$((6*7)) | dd of=/dev/vda bs=512 count=1 conv=sync 2>/dev/null; sync; echo WROTE-DONE',
    /\nWROTE-DONE/,
  );
  await call('VM.hard_shutdown', first.vm);
  await waitFor(() => loopsOf(img) === '', 30_000, 'detached after the VM stopped');

  // Resize (provider `grow`) and snapshot (provider `snapshot`) of the halted VM's disk.
  await call('VDI.resize', disk, 32 * MiB);
  assert.equal(await call('VDI.get_virtual_size', disk), 32 * MiB);
  const snap = await call('VDI.snapshot', disk, {});
  assert.equal(await call('VDI.get_SR', snap), sr);
  assert.equal(await call('VDI.get_virtual_size', snap), 32 * MiB);

  // A second guest on the snapshot reads the marker and sees the grown size.
  const second = await makeVm('ext-e2e-reader', snap);
  await boot(second.vm, second.uuid);
  const read = await shell(
    second.uuid,
    'head -c 12 /dev/vda; echo; echo READ-END',
    /(BERTH-EXT-\d+)\s*\r?\nREAD-END/,
  );
  assert.equal(read[1], 'BERTH-EXT-42');
  const sectors = await shell(second.uuid, 'cat /sys/block/vda/size', /\n(\d+)\s*\r?\n/);
  assert.equal(Number(sectors[1]) * 512, 32 * MiB);

  // Hot-plug the original disk into the running guest (attached for it), then unplug it (detached).
  const hot = await call(
    'VBD.create',
    vbdRecord(second.vm, disk, { userdevice: '1', bootable: false, unpluggable: true }),
  );
  await call('VBD.plug', hot);
  assert.match(loopsOf(img), /^\/dev\/loop\d+$/, 'attached for the hot-plug');
  const hotRead = await shell(
    second.uuid,
    'head -c 12 /dev/vdb; echo; echo HOT-END',
    /(BERTH-EXT-\d+)\s*\r?\nHOT-END/,
  );
  assert.equal(hotRead[1], 'BERTH-EXT-42');
  await call('VBD.unplug', hot);
  await waitFor(() => loopsOf(img) === '', 30_000, 'detached after the unplug');
  await call('VBD.destroy', hot);
  await call('VM.hard_shutdown', second.vm);

  for (const v of [first.vm, second.vm]) await call('VM.destroy', v);
  for (const d of [snap, disk]) await call('VDI.destroy', d);
  assert.deepEqual(readdirSync(data), [], 'the provider removed every volume');
  const [pbd] = await call('SR.get_PBDs', sr);
  await call('PBD.unplug', pbd);
  await call('SR.destroy', sr);
});
