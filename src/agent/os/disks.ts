// A VM's disks attached to the host as block devices for an OS script, and detached again on every
// path. There is no nbd kernel module here (qemu-nbd cannot make /dev/nbdN), so: a Berth LVM
// volume is already a block device; a raw image gets a loop device; a qcow2 image is copied into a
// sparse raw file (qemu-img convert) that gets the loop device, and copied back into the volume
// (convert -n, the volume file kept) only when the script succeeded, so a failed run leaves the
// volume as it was (docs/os-definitions.md, decisions).
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { XenApiError } from '../../shared/errors.js';
import { run } from '../../shared/exec.js';
import type { OsDisk } from '../../shared/host/os.js';
import type { AttachedDisk } from './environment.js';

interface Attachment extends AttachedDisk {
  disk: OsDisk;
  /** Loop device to free. */
  loop?: string;
  /** Raw copy of a qcow2 volume (removed at detach). */
  scratch?: string;
}

const IMG_TIMEOUT_MS = 30 * 60_000;

async function must(cmd: string, args: string[], what: string): Promise<string> {
  const r = await run(cmd, args, { timeoutMs: IMG_TIMEOUT_MS });
  if (r.code !== 0)
    throw new XenApiError('OS_DISK_ATTACH_FAILED', [what, (r.stderr || r.stdout).trim().slice(-2000)]);
  return r.stdout;
}

async function virtualSize(path: string, format: string): Promise<number> {
  const info = JSON.parse(await must('qemu-img', ['info', '--output=json', '-f', format, '--', path], path));
  return Number(info['virtual-size']);
}

async function loopOf(file: string, readonly: boolean): Promise<string> {
  const out = await must(
    'losetup',
    ['--find', '--show', ...(readonly ? ['--read-only'] : []), '--', file],
    file,
  );
  return out.trim();
}

async function attachOne(d: OsDisk, workDir: string, att: Attachment): Promise<void> {
  if (d.path.startsWith('/dev/')) {
    att.device = d.path;
    att.sizeBytes = Number((await must('blockdev', ['--getsize64', d.path], d.path)).trim());
    return;
  }
  if (d.format === 'raw') {
    att.sizeBytes = statSync(d.path).size;
    att.loop = await loopOf(d.path, d.readonly);
    att.device = att.loop;
    return;
  }
  att.sizeBytes = await virtualSize(d.path, 'qcow2');
  att.scratch = join(workDir, `${randomBytes(8).toString('hex')}.raw`);
  // -U not given: a volume some QEMU holds is refused by its lock, as it should be.
  await must(
    'qemu-img',
    ['convert', '-f', 'qcow2', '-O', 'raw', '-S', '64k', '--', d.path, att.scratch],
    d.path,
  );
  att.loop = await loopOf(att.scratch, d.readonly);
  att.device = att.loop;
}

/** Attaches every disk (in order); on a failure part-way the ones attached are detached again. */
export async function attachDisks(disks: readonly OsDisk[], workDir: string): Promise<Attachment[]> {
  mkdirSync(workDir, { recursive: true, mode: 0o700 });
  const out: Attachment[] = [];
  try {
    for (const d of disks) {
      const att: Attachment = { disk: d, device: '', sizeBytes: 0 };
      out.push(att);
      await attachOne(d, workDir, att);
    }
    return out;
  } catch (e) {
    await detachDisks(out, false);
    throw e;
  }
}

/**
 * Frees every loop device and scratch file; with `commit`, a qcow2 volume written through its
 * scratch copy first gets the new contents. Errors of the commit are thrown after the clean-up.
 */
export async function detachDisks(atts: readonly Attachment[], commit: boolean): Promise<void> {
  let failure: unknown;
  for (const a of atts) {
    if (a.loop) {
      const r = await run('losetup', ['--detach', a.loop], { timeoutMs: 60_000 }).catch((e) => e);
      if (r?.code !== 0)
        failure ??= new XenApiError('OS_DISK_ATTACH_FAILED', [a.loop, 'losetup --detach failed']);
    }
    if (a.scratch) {
      if (commit && !a.disk.readonly && failure === undefined)
        await must(
          'qemu-img',
          ['convert', '-n', '-f', 'raw', '-O', 'qcow2', '--', a.scratch, a.disk.path],
          a.disk.path,
        ).catch((e) => (failure ??= e));
      rmSync(a.scratch, { force: true });
    }
  }
  if (failure) throw failure;
}
