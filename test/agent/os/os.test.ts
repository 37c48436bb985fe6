// OS definitions through a real agent's RPC: diagnose of good and broken definitions, lookup with
// variants and traversal, os_validate with parameters (injection refused by the definition's
// verify), and scripts run against a qcow2 volume attached as a loop device: the documented
// environment (and nothing of the agent's own), the volume written on success, and on failure
// (exit code, time limit with a background child, garbage output) a clear error with the log tail,
// the volume unchanged and no loop device or scratch file left.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { OsInstance } from '../../../src/shared/host/os.js';
import { GUEST_DIR } from '../../helpers/stack.js';
import { startTestAgent } from '../../helpers/test-agent.js';
import { tempDir } from '../../helpers/tmp.js';

const REPO_OS = join(import.meta.dirname, '../../../os/berth-guest');
const UUID = '0a1b2c3d-0000-4000-8000-00000000a518';

/** A definition `name` in `top` with the given files (scripts made executable, 0755). */
function makeOs(top: string, name: string, files: Record<string, string>, mode = 0o755) {
  const dir = join(top, name);
  mkdirSync(dir, { recursive: true });
  for (const [f, text] of Object.entries(files)) {
    writeFileSync(join(dir, f), text);
    chmodSync(join(dir, f), f.includes('.') || f === 'ganeti_api_version' ? 0o644 : mode);
  }
  return dir;
}

const script = (body: string) => `#!/bin/sh\n${body}\n`;
const OK_SCRIPTS = {
  import: script('exit 0'),
  export: script('exit 0'),
  rename: script('exit 0'),
  verify: script('exit 0'),
};

/** Loop devices whose backing file lies under `dir`. */
const loopsUnder = (dir: string) =>
  execFileSync('losetup', ['--list', '--noheadings', '--output', 'BACK-FILE'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(dir));

const rawBytes = (qcow2: string, n: number) => {
  const out = `${qcow2}.check.raw`;
  execFileSync('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', qcow2, out]);
  return readFileSync(out).subarray(0, n);
};

test('OS definitions: diagnose, lookup, validate, scripts on attached disks, failures clean up', {
  timeout: 180_000,
}, async (t) => {
  const dir = tempDir(t, 'berth-osdef-');
  const top = join(dir, 'os');
  const srRoot = join(dir, 'sr');
  mkdirSync(srRoot);
  // The shipped definition (its guest dir linked to the test guest, as an installer would).
  cpSync(REPO_OS, join(top, 'berth-guest'), { recursive: true });
  symlinkSync(GUEST_DIR, join(top, 'berth-guest', 'guest'));
  // Broken ones, each for one of Ganeti's diagnose messages.
  makeOs(top, 'no-api', { create: script('exit 0'), ...OK_SCRIPTS });
  makeOs(top, 'old-api', { ganeti_api_version: '5\n', create: script('exit 0'), ...OK_SCRIPTS });
  makeOs(top, 'garbage-api', {
    ganeti_api_version: 'hello world\n',
    create: script('exit 0'),
    ...OK_SCRIPTS,
  });
  makeOs(top, 'no-create', { ganeti_api_version: '20\n', 'parameters.list': '', ...OK_SCRIPTS });
  makeOs(
    top,
    'no-exec',
    { ganeti_api_version: '20\n', 'parameters.list': '', create: 'x', ...OK_SCRIPTS },
    0o644,
  );
  makeOs(top, 'no-verify', {
    ganeti_api_version: '20\n',
    'parameters.list': '',
    create: script('exit 0'),
    import: script('exit 0'),
    export: script('exit 0'),
    rename: script('exit 0'),
  });
  // Test definitions: one that records its environment and writes a marker, failing ones.
  makeOs(top, 'envdump', {
    ganeti_api_version: '20\n15\n',
    'variants.list': 'one\ntwo\n',
    'parameters.list': 'colour the colour\n',
    create: script('env | sort; printf BERTH-OSDEF-MARK | dd of="$DISK_0_PATH" conv=notrunc status=none'),
    ...OK_SCRIPTS,
  });
  makeOs(top, 'fails', {
    ganeti_api_version: '20\n',
    'parameters.list': '',
    create: script(
      'printf WRONG | dd of="$DISK_0_PATH" conv=notrunc status=none\nhead -c 300 /dev/urandom | base64\necho the-last-words >&2\nexit 3',
    ),
    ...OK_SCRIPTS,
  });
  makeOs(top, 'hangs', {
    ganeti_api_version: '20\n',
    'parameters.list': '',
    create: script('printf WRONG | dd of="$DISK_0_PATH" conv=notrunc status=none\nsleep 600 &\nsleep 600'),
    ...OK_SCRIPTS,
  });

  const { client } = await startTestAgent(t, {
    stateRoot: join(dir, 'state'),
    storage: { roots: [srRoot] },
    os: { searchPaths: [top], logDir: join(dir, 'oslog'), workDir: join(dir, 'state', 'os-work') },
  });
  const os = client.os;

  // --- os_diagnose
  const all = await os.os_diagnose();
  const by = new Map(all.map((d) => [d.name, d]));
  assert.deepEqual(
    [...by.keys()],
    [
      'berth-guest',
      'envdump',
      'fails',
      'garbage-api',
      'hangs',
      'no-api',
      'no-create',
      'no-exec',
      'no-verify',
      'old-api',
    ],
  );
  const bg = by.get('berth-guest')!;
  assert.equal(bg.valid, true, bg.diagnose);
  assert.deepEqual(bg.api_versions, [20, 15, 10]);
  assert.deepEqual(bg.variants, ['default', 'debug']);
  assert.deepEqual(
    bg.parameters.map(([n]) => n),
    ['kernel_args'],
  );
  assert.match(by.get('no-api')!.diagnose, /Required file 'ganeti_api_version' not found/);
  assert.match(by.get('old-api')!.diagnose, /API version mismatch .*found \[5\], want \[10, 15, 20\]/);
  assert.match(by.get('garbage-api')!.diagnose, /bad API version 'hello world'/);
  assert.match(by.get('no-create')!.diagnose, /A create script \(trusted or untrusted\) .* must exist/);
  assert.match(by.get('no-exec')!.diagnose, /File 'create' .* is not executable/);
  assert.match(by.get('no-verify')!.diagnose, /File 'verify' .* is missing/);
  for (const n of ['no-api', 'old-api', 'garbage-api', 'no-create', 'no-exec', 'no-verify'])
    assert.equal(by.get(n)!.valid, false, n);

  // --- os_get: variants, unknown names, traversal
  assert.equal((await os.os_get('berth-guest+debug')).name, 'berth-guest');
  const invalid = (re: RegExp) => (e: any) => e.code === 'INVALID_VALUE' && re.test(e.params.join(' '));
  await assert.rejects(
    os.os_get('berth-guest+nope'),
    invalid(/unknown variant 'nope' \(variants: default, debug\)/),
  );
  await assert.rejects(os.os_get('nosuch'), invalid(/no OS definition 'nosuch'/));
  await assert.rejects(os.os_get('no-exec'), invalid(/invalid OS definition: File 'create'/));
  for (const evil of ['../os/berth-guest', '..', 'a/b', '/etc', 'berth-guest+../x', ''])
    await assert.rejects(os.os_get(evil), invalid(/OS name|variant/), evil);

  // --- os_validate
  assert.equal(await os.os_validate(false, 'nosuch', ['parameters'], {}), false);
  await assert.rejects(os.os_validate(true, 'nosuch', ['parameters'], {}), invalid(/no OS definition/));
  assert.equal(
    await os.os_validate(true, 'berth-guest', ['parameters'], { kernel_args: 'quiet loglevel=3' }),
    true,
  );
  await assert.rejects(
    os.os_validate(true, 'berth-guest', ['parameters'], { colour: 'red' }),
    invalid(/not a parameter of OS 'berth-guest' \(parameters: kernel_args\)/),
  );
  // A newline would start a new syslinux.cfg line: the definition's verify refuses it.
  await assert.rejects(
    os.os_validate(true, 'berth-guest', ['parameters'], { kernel_args: 'quiet\nLABEL evil' }),
    (e: any) =>
      e.code === 'OS_SCRIPT_FAILED' &&
      /exit code 1/.test(e.params[2]) &&
      /kernel_args: only/.test(e.params[3]),
  );
  await assert.rejects(os.os_validate(true, 'berth-guest', ['everything'], {}), invalid(/only check/));

  // --- instance_os_add on a qcow2 volume
  const vol = join(srRoot, 'disk0.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', vol, '64M']);
  const inst = (osName: string, extra: Partial<OsInstance> = {}): OsInstance => ({
    uuid: UUID,
    name: 'guest one',
    os: osName,
    osParams: {},
    disks: [{ path: vol, format: 'qcow2', readonly: false, uuid: 'vdi-uuid-0', name: 'disk 0' }],
    nics: [{ mac: '02:00:00:00:05:18', bridge: 'xenbr0' }],
    primaryNode: 'host-a',
    beParams: { maxmem: '256' },
    ...extra,
  });
  process.env.BERTH_OSDEF_SECRET = 'must-not-leak';
  const done = await os.instance_os_add(inst('envdump+two', { osParams: { colour: 'blue' } }), true, 1);
  const log = readFileSync(done.log, 'utf8');
  const envOf = Object.fromEntries(
    log
      .split('\n')
      .filter((l) => /^[A-Za-z_0-9]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  assert.equal(envOf.OS_API_VERSION, '20');
  assert.equal(envOf.OS_NAME, 'envdump+two');
  assert.equal(envOf.OS_VARIANT, 'two');
  assert.equal(envOf.OSP_COLOUR, 'blue');
  assert.equal(envOf.INSTANCE_NAME, 'guest one');
  assert.equal(envOf.INSTANCE_UUID, UUID);
  assert.equal(envOf.INSTANCE_REINSTALL, '1');
  assert.equal(envOf.INSTANCE_PRIMARY_NODE, 'host-a');
  assert.equal(envOf.INSTANCE_BE_maxmem, '256');
  assert.equal(envOf.HYPERVISOR, 'kvm');
  assert.equal(envOf.DEBUG_LEVEL, '1');
  assert.equal(envOf.DISK_COUNT, '1');
  assert.match(envOf.DISK_0_PATH, /^\/dev\/loop\d+$/);
  assert.equal(envOf.DISK_0_ACCESS, 'rw');
  assert.equal(envOf.DISK_0_SIZE, '64');
  assert.equal(envOf.DISK_0_UUID, 'vdi-uuid-0');
  assert.equal(envOf.DISK_0_BACKEND_TYPE, 'block');
  assert.equal(envOf.NIC_COUNT, '1');
  assert.equal(envOf.NIC_0_MAC, '02:00:00:00:05:18');
  assert.equal(envOf.NIC_0_BRIDGE, 'xenbr0');
  assert.equal(envOf.PATH, '/sbin:/bin:/usr/sbin:/usr/bin');
  assert.equal(envOf.BERTH_OSDEF_SECRET, undefined, 'the agent environment is not passed on');
  assert.equal(envOf.HOME, undefined);
  assert.equal(rawBytes(vol, 16).toString(), 'BERTH-OSDEF-MARK');
  assert.deepEqual(loopsUnder(dir), []);
  assert.deepEqual(readdirSync(join(dir, 'state', 'os-work')), []);

  // A failing script: Ganeti's message with the last lines of its log; the qcow2 volume keeps
  // what it had (the raw copy is not written back), nothing left attached.
  const t0 = Date.now();
  await assert.rejects(os.instance_os_add(inst('fails'), false, 0), (e: any) => {
    assert.equal(e.code, 'OS_SCRIPT_FAILED');
    assert.equal(e.params[0], 'fails');
    assert.equal(e.params[1], 'create');
    assert.equal(e.params[2], 'OS create script failed (exited with exit code 3)');
    assert.match(e.params[3], /the-last-words$/);
    assert.ok(e.params[3].split('\n').length <= 20);
    assert.ok(existsSync(e.params[4]));
    return true;
  });
  assert.equal(rawBytes(vol, 16).toString(), 'BERTH-OSDEF-MARK');
  // A script that hangs (with a background child holding the disk): killed at the time limit.
  await assert.rejects(
    os.instance_os_add(inst('hangs', { timeoutMs: 1500 }), false, 0),
    (e: any) => e.code === 'OS_SCRIPT_FAILED' && /killed after the time limit of 2 s/.test(e.params[2]),
  );
  assert.ok(Date.now() - t0 < 30_000);
  assert.equal(rawBytes(vol, 16).toString(), 'BERTH-OSDEF-MARK');
  assert.deepEqual(loopsUnder(dir), []);
  assert.deepEqual(readdirSync(join(dir, 'state', 'os-work')), []);
  // No process of the hanging script survives.
  assert.equal(
    execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes(join(top, 'hangs'))).length,
    0,
  );

  // Bad arguments: refused before anything is attached.
  await assert.rejects(
    os.instance_os_add(inst('envdump', { osParams: { size: '1' } }), false, 0),
    invalid(/not a parameter/),
  );
  await assert.rejects(os.instance_os_add(inst('no-exec'), false, 0), invalid(/is not executable/));
  await assert.rejects(
    os.instance_os_add(
      inst('envdump', { disks: [{ path: '/etc/passwd', format: 'raw', readonly: false }] }),
      false,
      0,
    ),
    invalid(/disks\.0\.path/),
  );
  await assert.rejects(
    os.instance_os_add(
      inst('envdump', { disks: [{ path: `${srRoot}/../state/x.raw`, format: 'raw', readonly: false }] }),
      false,
      0,
    ),
    invalid(/disks\.0\.path/),
  );
  await assert.rejects(os.instance_os_add(inst('../envdump'), false, 0), invalid(/OS name/));
  await assert.rejects(
    os.instance_os_add(inst('envdump', { name: 'a\nb' }), false, 0),
    invalid(/instance\.name/),
  );
  assert.deepEqual(loopsUnder(dir), []);

  // --- the shipped definition: a disk with an MBR, a bootable FAT partition and syslinux.
  await os.instance_os_add(inst('berth-guest', { osParams: { kernel_args: 'loglevel=4' } }), false, 0);
  const head = rawBytes(vol, 512);
  assert.equal(head.readUInt16LE(510), 0xaa55);
  assert.equal(head[446], 0x80, 'partition 1 is bootable');
  const cfgOut = join(dir, 'cfg.raw');
  execFileSync('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', vol, cfgOut]);
  const cfg = execFileSync('mtype', ['-i', `${cfgOut}@@1048576`, '::syslinux.cfg'], { encoding: 'utf8' });
  assert.match(cfg, /APPEND console=ttyS0 panic=-1 berth\.instance=guest_one loglevel=4/);
  await os.instance_run_rename(inst('berth-guest', { name: 'guest two' }), 'guest one', 0);
  execFileSync('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', vol, cfgOut]);
  assert.match(
    execFileSync('mtype', ['-i', `${cfgOut}@@1048576`, '::syslinux.cfg'], { encoding: 'utf8' }),
    /berth\.instance=guest_two/,
  );
  assert.deepEqual(loopsUnder(dir), []);
});
