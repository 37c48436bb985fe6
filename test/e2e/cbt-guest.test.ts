// Changed-block tracking with a real guest (agent and manager as processes, QEMU under TCG): the
// guest writes known blocks of a CBT disk while running, QEMU keeps the bitmap and stores it in
// the image at a clean shutdown, and list_changed_blocks between a snapshot taken before the boot
// and one taken after names exactly those blocks. A second disk gets CBT while the VM runs
// (QMP), and its bitmap, read with qemu-nbd + nbdinfo, holds the guest's later write.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { changedBlockIndices } from '../../src/shared/cbt/changed-blocks.js';
import { runChecked } from '../../src/shared/exec.js';
import { volumePath } from '../../src/shared/host/volume-path.js';
import { typeLine } from '../agent/helpers/guest.js';
import { ensureGuest, startStack, waitFor } from '../helpers/stack.js';

const MiB = 1024 * 1024;
const BOOT_MS = 120_000;

test('a running guest writes known blocks of a CBT disk; the snapshots diff names exactly them', {
  timeout: 600_000,
}, async (t) => {
  await ensureGuest();
  const stack = await startStack(t, 19300 + Math.floor(Math.random() * 100));
  await stack.startAgent();
  await stack.startManager();
  const c = await stack.client();
  const call = (m: string, ...a: unknown[]) => (c.call as any)(m, ...a) as Promise<any>;

  const [tmpl] = await call('VM.get_by_name_label', 'Berth test guest');
  const vm = await call('VM.clone', tmpl, 'cbt-e2e');
  await call('VM.provision', vm);
  await call('VM.set_is_a_template', vm, false);
  const uuid = await call('VM.get_uuid', vm);
  const [pool] = await call('pool.get_all');
  const sr = await call('pool.get_default_SR', pool);
  const disk = async (name: string, userdevice: string) => {
    const vdi = await call('VDI.create', {
      SR: sr,
      virtual_size: 32 * MiB,
      type: 'user',
      sharable: false,
      read_only: false,
      other_config: {},
      name_label: name,
    });
    await call('VBD.create', {
      VM: vm,
      VDI: vdi,
      userdevice,
      bootable: false,
      mode: 'RW',
      type: 'Disk',
      empty: false,
      other_config: {},
      qos_algorithm_type: '',
      qos_algorithm_params: {},
    });
    return vdi;
  };
  const data = await disk('cbt data', '1'); // /dev/vda in the guest (the template boots from kernel + initrd)
  const late = await disk('cbt late', '2'); // /dev/vdb
  await call('VDI.enable_cbt', data);
  const before = await call('VDI.snapshot', data, {});

  const guest = async (line: string, re: RegExp, ms = 60_000) => {
    const from = stack.consoleLog(uuid).length;
    await typeLine(`${stack.runDir}/${uuid}/serial.sock`, line);
    let m: RegExpExecArray | null = null;
    await waitFor(
      () => (m = re.exec(stack.consoleLog(uuid).slice(from))) !== null,
      ms,
      `${re} on the console`,
    );
    return m!;
  };
  await call('VM.start', vm, false, false);
  await waitFor(() => stack.consoleLog(uuid).includes('BERTH-GUEST-READY'), BOOT_MS, 'boot marker');

  // Blocks 3 (one 64 KiB block) and 100 (4 KiB at 6.25 MiB) of the data disk.
  await guest(
    'dd if=/dev/urandom of=/dev/vda bs=65536 seek=3 count=1 conv=notrunc 2>/dev/null; dd if=/dev/urandom of=/dev/vda bs=4096 seek=1600 count=1 conv=notrunc 2>/dev/null; sync; echo CBT-WROTE',
    /\nCBT-WROTE/,
  );
  // CBT switched on while the VM runs: QEMU's bitmap from now on.
  await call('VDI.enable_cbt', late);
  assert.equal(await call('VDI.get_cbt_enabled', late), true);
  await guest(
    'dd if=/dev/urandom of=/dev/vdb bs=65536 seek=7 count=1 conv=notrunc 2>/dev/null; sync; echo LATE-WROTE',
    /\nLATE-WROTE/,
  );
  await call('VM.clean_shutdown', vm);

  const after = await call('VDI.snapshot', data, {});
  const bits = await call('VDI.list_changed_blocks', before, after);
  assert.deepEqual(changedBlockIndices(bits), [3, 100]);

  const lateRec = await call('VDI.get_record', late);
  const srRec = await call('SR.get_record', sr);
  const dc = await call('PBD.get_device_config', srRec.PBDs[0]);
  const path = volumePath(srRec.type, srRec.uuid, dc, lateRec.location)!.path;
  const bitmap = `berth-cbt-${lateRec.uuid}`;
  const map = JSON.parse(
    await runChecked('nbdinfo', [
      '--json',
      `--map=qemu:dirty-bitmap:${bitmap}`,
      '--',
      '[',
      'qemu-nbd',
      '-r',
      '-f',
      'qcow2',
      '-B',
      bitmap,
      path,
      ']',
    ]),
  ) as { offset: number; length: number; type: number }[];
  assert.deepEqual(
    map.filter((e) => e.type === 1).map((e) => [e.offset, e.length]),
    [[7 * 65536, 65536]],
  );
  await call('VM.destroy', vm);
});
