// Backing up a running guest as a client would (agent and manager as processes, QEMU under TCG):
// the guest writes known data, /export of the running VM is refused (VM_BAD_POWER_STATE), a live
// VM.snapshot is taken while it keeps writing, and /export of that snapshot with zstd (read by
// the agent's NBD export of an image the running QEMU has as its backing file) is checked by
// Python (tarfile + xxhash) and its disk compared with qemu-img's reading of the snapshot.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { typeLine } from '../agent/helpers/guest.js';
import { ensureGuest, startStack, waitFor } from '../helpers/stack.js';
import { checkXva, rawSha, rebuiltShas } from '../manager/http/export-harness.js';

const BOOT_MS = 120_000;

test('export of a live snapshot of a running guest', { timeout: 600_000 }, async (t) => {
  await ensureGuest();
  const stack = await startStack(t, 19300 + Math.floor(Math.random() * 100));
  await stack.startAgent();
  await stack.startManager();
  const c = await stack.client();
  const call = (m: string, ...a: unknown[]) => (c.call as any)(m, ...a) as Promise<any>;
  const [tmpl] = await call('VM.get_by_name_label', 'Berth test guest');
  const vm = await call('VM.clone', tmpl, 'export-e2e');
  await call('VM.provision', vm);
  await call('VM.set_is_a_template', vm, false);
  const uuid = await call('VM.get_uuid', vm);
  const [pool] = await call('pool.get_all');
  const sr = await call('pool.get_default_SR', pool);
  const disk = await call('VDI.create', {
    SR: sr,
    virtual_size: 16 * 1024 * 1024,
    type: 'user',
    sharable: false,
    read_only: false,
    other_config: {},
    name_label: 'data',
  });
  await call('VBD.create', {
    VM: vm,
    VDI: disk,
    userdevice: '1',
    bootable: false,
    mode: 'RW',
    type: 'Disk',
    empty: false,
    unpluggable: true,
    other_config: {},
    qos_algorithm_type: '',
    qos_algorithm_params: {},
  });
  const [pbd] = await call('SR.get_PBDs', sr);
  const srDir = (await call('PBD.get_device_config', pbd)).location as string;
  const imageOf = async (vdi: string) => join(srDir, `${await call('VDI.get_location', vdi)}.qcow2`);
  const guest = async (line: string, re: RegExp, ms = 60_000) => {
    const from = stack.consoleLog(uuid).length;
    await typeLine(`${stack.runDir}/${uuid}/serial.sock`, line);
    await waitFor(() => re.test(stack.consoleLog(uuid).slice(from)), ms, `${re} on the console`);
  };

  await call('VM.start', vm, false, false);
  t.after(() => call('VM.hard_shutdown', vm).catch(() => undefined));
  await waitFor(() => stack.consoleLog(uuid).includes('BERTH-GUEST-READY'), BOOT_MS, 'boot marker');
  for (let i = 0; ; i++) {
    try {
      await guest('echo SHELL-$((40+2))', /SHELL-42/, 15_000);
      break;
    } catch (e) {
      if (i === 5) throw e;
    }
  }
  await guest(
    'echo BERTH-EXPORT-A | dd of=/dev/vda bs=512 count=1 conv=sync 2>/dev/null; sync; echo A-DONE',
    /\nA-DONE/,
  );
  await guest(
    '(i=0; while :; do i=$((i+1)); echo BERTH-LOOP-$i-END | dd of=/dev/vda bs=512 seek=2048 count=1 conv=sync 2>/dev/null; sync; done) & echo LOOP-STARTED',
    /\nLOOP-STARTED/,
  );

  const password = readFileSync(join(stack.dir, 'data', 'root-password'), 'utf8').trim();
  const headers = { authorization: `Basic ${Buffer.from(`root:${password}`).toString('base64')}` };
  const running = await fetch(`${stack.url}/export?ref=${vm}`, { headers });
  assert.equal(running.status, 500);
  assert.match(await running.text(), /VM_BAD_POWER_STATE/);

  const snap = await call('VM.snapshot', vm, 'backup', []);
  const res = await fetch(`${stack.url}/export?ref=${snap}&use_compression=zstd`, { headers });
  assert.equal(res.status, 200);
  const zst = join(stack.dir, 'backup.xva.zst');
  writeFileSync(zst, Buffer.from(await res.arrayBuffer()));
  const tar = join(stack.dir, 'backup.tar');
  writeFileSync(tar, execFileSync('zstd', ['-dc', zst], { maxBuffer: 1 << 30 }));
  const x = checkXva(tar, stack.dir);
  assert.equal(await call('VM.get_power_state', vm), 'Running', 'the guest ran on');

  // Every exported disk equals qemu-img's reading of the snapshot's image.
  const expected = new Map<string, string>();
  for (const vbd of (await call('VM.get_VBDs', snap)) as string[]) {
    if ((await call('VBD.get_type', vbd)) === 'CD') continue;
    const vdi = await call('VBD.get_VDI', vbd);
    expected.set(await call('VDI.get_uuid', vdi), await rawSha(await imageOf(vdi), stack.dir, 'snap'));
  }
  assert.deepEqual(rebuiltShas(x), expected);
  const data = Object.values(x.disks).find((d) => d.size === 16 * 1024 * 1024)!;
  const bytes = readFileSync(data.file);
  assert.equal(bytes.subarray(0, 15).toString('latin1'), 'BERTH-EXPORT-A\n');
  assert.match(bytes.subarray(2048 * 512, 2048 * 512 + 64).toString('latin1'), /^BERTH-LOOP-\d+-END\n\0/);
});
