// A guest installed from an OS definition (issue 18) through the XenAPI, agent and manager as
// processes: a template whose other_config names the shipped berth-guest definition is
// provisioned (VM.provision creates the disk, the agent runs `create` against it as a loop
// device), the VM boots from that disk under TCG with no kernel given by the host (SeaBIOS →
// syslinux → the kernel on the disk), and the guest sees the instance name and the OS parameter
// on its kernel command line. A failing definition, an unknown OS and an undeclared parameter
// leave the template as it was: no disk, no VBD, its other_config kept.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Call, guestShell, startGuestStack, waitGuestShell } from '../helpers/guest-vm.js';
import { ensureGuest, GUEST_DIR, waitFor } from '../helpers/stack.js';
import { tempDir } from '../helpers/tmp.js';

const REPO_OS = join(import.meta.dirname, '../../os/berth-guest');
const BOOT_MS = 180_000;
const DISKS = '<provision><disk device="0" size="67108864" sr="" bootable="true" type="system"/></provision>';

/** A template booting from its disk (no host kernel), cloned from the test template. */
async function osTemplate(call: Call, name: string, other: Record<string, string>): Promise<string> {
  const [base] = await call('VM.get_by_name_label', 'Berth test guest');
  const tmpl = await call('VM.clone', base, name);
  await call('VM.set_PV_kernel', tmpl, '');
  await call('VM.set_PV_ramdisk', tmpl, '');
  await call('VM.set_PV_args', tmpl, '');
  await call('VM.set_HVM_boot_policy', tmpl, 'BIOS order');
  const oc = await call('VM.get_other_config', tmpl);
  await call('VM.set_other_config', tmpl, { ...oc, disks: DISKS, ...other });
  return tmpl;
}

test('VM.provision installs a guest from an OS definition; it boots from its disk', {
  timeout: 900_000,
}, async (t) => {
  await ensureGuest();
  execFileSync('which', ['syslinux', 'mcopy', 'sfdisk']);
  // The OS search path: the shipped definition (guest dir linked, as an installer would) and one
  // that fails after writing to the disk.
  const osPath = join(tempDir(t, 'berth-os-e2e-'), 'os');
  cpSync(REPO_OS, join(osPath, 'berth-guest'), { recursive: true });
  symlinkSync(GUEST_DIR, join(osPath, 'berth-guest', 'guest'));
  const fails = join(osPath, 'fails');
  mkdirSync(fails);
  writeFileSync(join(fails, 'ganeti_api_version'), '20\n');
  writeFileSync(join(fails, 'parameters.list'), '');
  for (const s of ['import', 'export', 'rename', 'verify'])
    writeFileSync(join(fails, s), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  writeFileSync(
    join(fails, 'create'),
    '#!/bin/sh\ndd if=/dev/urandom of="$DISK_0_PATH" bs=64k count=4 status=none\necho "partition table: no such luck" >&2\nexit 2\n',
    { mode: 0o755 },
  );
  process.env.BERTH_OS_PATH = osPath;
  t.after(() => {
    delete process.env.BERTH_OS_PATH;
  });
  const port = 19300 + Math.floor(Math.random() * 100);
  const { stack, call } = await startGuestStack(t, port);
  const [pool] = await call('pool.get_all');
  const master = await call('pool.get_master', pool);
  const sr = await call('pool.get_default_SR', pool);

  // host.os_diagnose: the definitions of the master's agent.
  const defs = JSON.parse(await call('host.os_diagnose', master));
  const bg = defs.find((d: any) => d.name === 'berth-guest');
  assert.equal(bg.valid, true, bg.diagnose);
  assert.deepEqual(bg.variants, ['default', 'debug']);
  // ... and through xe (Berth extension).
  const password = readFileSync(join(stack.dir, 'data', 'root-password'), 'utf8').trim();
  const xe = (...args: string[]) =>
    execFileSync(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, '../../src/clients/xe/main.ts'), ...args],
      {
        encoding: 'utf8',
        env: { ...process.env, XE_EXTRA_ARGS: `server=127.0.0.1,port=${port},nossl=true` },
      },
    );
  const listed = xe(
    'host-os-list',
    'name=fails',
    '-s',
    '127.0.0.1',
    '-p',
    String(port),
    '--nossl',
    '-u',
    'root',
    '-pw',
    password,
  );
  assert.match(listed, /name \( RO\)\s*: fails\n/);
  assert.match(listed, /valid \( RO\)\s*: true\n/);
  assert.match(listed, /api-versions \(SRO\)\s*: 20\n/);

  const vdisInSr = async () => (await call('SR.get_VDIs', sr)).length;
  const vdisBefore = await vdisInSr();

  // Failures first: each leaves the template as it was.
  const cases: [string, Record<string, string>, (e: any) => boolean][] = [
    [
      'fails',
      { 'berth-os': 'fails' },
      (e) =>
        e.code === 'OS_SCRIPT_FAILED' &&
        e.params[2] === 'OS create script failed (exited with exit code 2)' &&
        /partition table: no such luck/.test(e.params[3]),
    ],
    [
      'unknown',
      { 'berth-os': 'nosuch' },
      (e) => e.code === 'INVALID_VALUE' && /no OS definition 'nosuch'/.test(e.params[2]),
    ],
    ['traversal', { 'berth-os': '../berth-guest' }, (e) => e.code === 'INVALID_VALUE'],
    [
      'variant',
      { 'berth-os': 'berth-guest+fancy' },
      (e) => e.code === 'INVALID_VALUE' && /unknown variant 'fancy'/.test(e.params[2]),
    ],
    [
      'param',
      { 'berth-os': 'berth-guest', 'berth-os-param-colour': 'red' },
      (e) => e.code === 'INVALID_VALUE' && /not a parameter of OS 'berth-guest'/.test(e.params[2]),
    ],
    [
      'injection',
      { 'berth-os': 'berth-guest', 'berth-os-param-kernel_args': 'quiet\nLABEL evil\n  KERNEL /etc/passwd' },
      (e) => e.code === 'OS_SCRIPT_FAILED' && /kernel_args: only/.test(e.params[3]),
    ],
  ];
  for (const [label, other, check] of cases) {
    const tmpl = await osTemplate(call, `os-e2e-${label}`, other);
    const vm = await call('VM.clone', tmpl, `os-e2e-${label}-vm`);
    const ocBefore = await call('VM.get_other_config', vm);
    await assert.rejects(
      call('VM.provision', vm),
      (e: any) => check(e) || assert.fail(`${label}: ${e.code} ${JSON.stringify(e.params)}`),
    );
    assert.equal(await call('VM.get_is_a_template', vm), true, label);
    assert.deepEqual(await call('VM.get_VBDs', vm), [], label);
    assert.deepEqual(await call('VM.get_other_config', vm), ocBefore, label);
    assert.equal(await vdisInSr(), vdisBefore, label);
  }

  // The real install: provision, then start from the disk.
  const tmpl = await osTemplate(call, 'os-e2e-template', {
    'berth-os': 'berth-guest+debug',
    'berth-os-param-kernel_args': 'loglevel=4',
  });
  const vm = await call('VM.clone', tmpl, 'os-e2e guest');
  await call('VM.provision', vm);
  assert.equal(await call('VM.get_is_a_template', vm), false);
  const vbds = await call('VM.get_VBDs', vm);
  assert.equal(vbds.length, 1);
  assert.equal(await vdisInSr(), vdisBefore + 1);
  const uuid = await call('VM.get_uuid', vm);
  await call('VM.start', vm, false, false);
  const shell = guestShell(stack, uuid);
  await waitGuestShell(stack, uuid, BOOT_MS, shell);
  const log = stack.consoleLog(uuid);
  assert.match(log, /SYSLINUX 6\.\d+/, 'booted through the boot loader on the disk');
  const cmdline = await shell(
    'cat /proc/cmdline; echo CMDLINE-END',
    /(\S*berth\.instance=\S+[^\n]*)\r?\nCMDLINE-END/,
  );
  assert.match(cmdline[1], /berth\.instance=os-e2e_guest ignore_loglevel loglevel=4/);
  // VM.run_os_rename (Berth extension): the rename script on the halted VM's disk.
  await assert.rejects(
    call('VM.run_os_rename', vm, 'os-e2e guest'),
    (e: any) => e.code === 'VM_BAD_POWER_STATE',
  );
  await call('VM.hard_shutdown', vm);
  await waitFor(async () => (await call('VM.get_power_state', vm)) === 'Halted', 60_000, 'halted');
  await call('VM.set_name_label', vm, 'renamed one');
  await call('VM.run_os_rename', vm, 'os-e2e guest');
  const from = stack.consoleLog(uuid).length;
  await call('VM.start', vm, false, false);
  await waitFor(
    () => stack.consoleLog(uuid).slice(from).includes('BERTH-GUEST-READY'),
    BOOT_MS,
    'second boot',
  );
  await waitGuestShell(stack, uuid, BOOT_MS, shell);
  const renamed = await shell(
    'cat /proc/cmdline; echo CMDLINE2-END',
    /(berth\.instance=\S+)[^\n]*\r?\nCMDLINE2-END/,
  );
  assert.equal(renamed[1], 'berth.instance=renamed_one');
  await call('VM.hard_shutdown', vm);
});
