// The `nfs` SR: a directory on an NFS server, mounted by every host's agent at
// <srMountDir>/<sr uuid> (xapi: /run/sr-mount/<uuid>), holding qcow2 files exactly as the `file`
// SR does (its code does the volume work). As xapi's NFSSR, SR.create makes the subdirectory
// <serverpath>/<sr uuid> on the server and each host mounts server:<serverpath>/<sr uuid>, soft,
// with SM's options; SR.probe lists the exports (no serverpath) or the SRs under serverpath.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { connect } from 'node:net';
import { release } from 'node:os';
import { join } from 'node:path';
import { XenApiError } from '../../shared/errors.js';
import { CommandNotFoundError, run } from '../../shared/exec.js';
import { emptySrDir, fileDriver, fileInfo, markerUuid } from './file-sr.js';
import { SR_MOUNT_DIR } from '../../shared/host/volume-path.js';
import {
  exportsXml,
  kernelHasNfs,
  mountOptions,
  mountPoints,
  type NfsConfig,
  parseNfsConfig,
  parseShowmount,
  remoteSpec,
} from './nfs-config.js';
import { smError } from './sm-errors.js';
import type { DriverContext, DriverInfo, ProbeEntry, SrConfig, SrDriver } from './types.js';

/** The port SM checks before mounting (NFSSR.NFSPORT). */
const NFS_PORT = 2049;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MOUNT_TIMEOUT_MS = 60_000;

const mountDirOf = (ctx: DriverContext) => ctx.srMountDir ?? SR_MOUNT_DIR;

function mountPointOf(sr: SrConfig, ctx: DriverContext): string {
  if (!UUID.test(sr.uuid)) throw new XenApiError('INVALID_VALUE', ['uuid', sr.uuid]);
  return join(mountDirOf(ctx), sr.uuid);
}

/** The mounted SR as a `file` SR for the volume work, confined to the mount directory. */
function asFileSr(sr: SrConfig, ctx: DriverContext): { sr: SrConfig; ctx: DriverContext } {
  return {
    sr: { ...sr, type: 'file', deviceConfig: { location: mountPointOf(sr, ctx) } },
    ctx: { ...ctx, allowedRoots: [mountDirOf(ctx)] },
  };
}

function isMounted(path: string): boolean {
  return mountPoints(readFileSync('/proc/self/mountinfo', 'utf8')).includes(path);
}

/** Volume work only ever happens on the mounted server directory, never on the bare mount point. */
function mounted(sr: SrConfig, ctx: DriverContext) {
  const mp = mountPointOf(sr, ctx);
  if (!isMounted(mp)) throw smError('SRUnavailable', `${mp} is not mounted (is the PBD plugged?)`);
  return asFileSr(sr, ctx);
}

function requirePath(c: NfsConfig): string {
  if (!c.serverpath) throw smError('ConfigServerPathMissing');
  return c.serverpath;
}

/** SM's _testHost: the server resolves and accepts a TCP connection on the NFS port. */
function testHost(server: string, port = NFS_PORT, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: server, port });
    const fail = (e: XenApiError) => {
      sock.destroy();
      reject(e);
    };
    sock.setTimeout(timeoutMs, () => fail(smError('NFSTarget', `no answer from ${server}:${port}`)));
    sock.once('connect', () => {
      sock.end();
      resolve();
    });
    sock.once('error', (e: NodeJS.ErrnoException) =>
      fail(
        e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN'
          ? smError('DNSError', server)
          : smError('NFSTarget', `${server}:${port}: ${e.code ?? e.message}`),
      ),
    );
  });
}

/** This kernel can mount NFS (listed in /proc/filesystems, or a module exists to load). */
function kernelCanMountNfs(): boolean {
  const filesystems = existsSync('/proc/filesystems') ? readFileSync('/proc/filesystems', 'utf8') : '';
  const moduleDir = join('/lib/modules', release(), 'kernel/fs/nfs');
  return kernelHasNfs(filesystems, existsSync(moduleDir));
}

const NO_KERNEL_NFS =
  "this host's kernel has no NFS client: neither nfs nor nfs4 is in /proc/filesystems and no nfs " +
  'module exists under /lib/modules to load, so no NFS SR can be mounted here';

async function mountNfs(c: NfsConfig, remotePath: string, mp: string): Promise<void> {
  if (isMounted(mp)) throw smError('NFSAttached', mp);
  mkdirSync(mp, { recursive: true, mode: 0o700 });
  const args = [remoteSpec(c.server, remotePath), mp, '-o', mountOptions(c)];
  let r: Awaited<ReturnType<typeof run>>;
  try {
    r = await run('mount.nfs', args, { timeoutMs: MOUNT_TIMEOUT_MS });
  } catch (e) {
    removeMountPoint(mp);
    if (e instanceof CommandNotFoundError)
      throw smError('NFSMount', 'mount.nfs not found: install nfs-common on this host');
    throw e;
  }
  if (r.code === 0) return;
  removeMountPoint(mp);
  const said = (r.stderr || r.stdout).trim();
  if (!kernelCanMountNfs()) throw smError('NFSMount', NO_KERNEL_NFS, said);
  const how = r.timedOut ? `timed out after ${MOUNT_TIMEOUT_MS / 1000}s` : `with return code ${r.code}`;
  throw smError('NFSMount', `mount failed on server \`${c.server}\` ${how}`, said);
}

async function unmount(mp: string): Promise<void> {
  if (isMounted(mp)) {
    const r = await run('umount', [mp], { timeoutMs: MOUNT_TIMEOUT_MS });
    if (r.code !== 0)
      throw smError('NFSUnMount', `umount failed with return code ${r.code}`, r.stderr.trim());
  }
  removeMountPoint(mp);
}

function removeMountPoint(mp: string) {
  try {
    rmdirSync(mp);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/** Runs `fn` with server:serverpath itself mounted at `mp` (SR.create, SR.destroy, SR.probe). */
async function withServerPath<T>(c: NfsConfig, mp: string, fn: () => Promise<T>): Promise<T> {
  await testHost(c.server);
  await mountNfs(c, requirePath(c), mp);
  try {
    return await fn();
  } finally {
    await unmount(mp);
  }
}

async function listExports(server: string): Promise<string> {
  const r = await run('showmount', ['--no-headers', '-e', server], { timeoutMs: 30_000 }).catch((e) => {
    if (e instanceof CommandNotFoundError)
      throw smError('ConfigServerPathMissing', 'showmount not found: install nfs-common on this host');
    throw e;
  });
  if (r.code !== 0)
    throw smError('ConfigServerPathMissing', `could not list the exports of ${server}`, r.stderr.trim());
  return exportsXml(server, parseShowmount(r.stdout));
}

export const nfsInfo: DriverInfo = {
  ...fileInfo,
  type: 'nfs',
  name: 'NFS',
  description:
    'VDIs as qcow2 files in a directory on an NFS server, mounted by every host (shared); thin provisioning, clones and snapshots as backing chains',
  configuration: {
    server: 'hostname or IP address of NFS server (required)',
    serverpath: 'path on remote server (required)',
    nfsversion: 'NFS protocol version - 3, 4, 4.0, 4.1',
    options: 'extra mount options, comma-separated',
    useUDP: 'true: mount over UDP instead of TCP',
  },
  shareable: true,
};

export const nfsDriver: SrDriver = {
  info: nfsInfo,

  validate(dc) {
    parseNfsConfig(dc);
  },

  async create(sr, ctx) {
    const c = parseNfsConfig(sr.deviceConfig);
    const serverpath = requirePath(c);
    const mp = mountPointOf(sr, ctx);
    if (isMounted(mp)) throw smError('NFSAttached', mp);
    // The SR's own directory on the server, with the file SR's marker naming this SR.
    await withServerPath(c, mp, async () => {
      const dir = join(mp, sr.uuid);
      if (existsSync(dir) && readdirSync(dir).length && markerUuid(dir) !== sr.uuid)
        throw smError('SRExists', `${serverpath}/${sr.uuid} is not empty`);
      try {
        await fileDriver.create(
          { ...sr, type: 'file', deviceConfig: { location: dir } },
          { ...ctx, allowedRoots: [mountDirOf(ctx)] },
        );
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EROFS' || code === 'EACCES' || code === 'EPERM')
          throw smError('NFSCreate', `remote directory creation error is ${code}`);
        throw e;
      }
    });
    // Berth's SR.create leaves the creating host's PBD plugged: mount the SR now.
    await nfsDriver.attach(sr, ctx);
  },

  async destroy(sr, ctx) {
    const c = parseNfsConfig(sr.deviceConfig);
    const mp = mountPointOf(sr, ctx);
    emptySrDir(mounted(sr, ctx).sr.deviceConfig.location);
    await unmount(mp);
    await withServerPath(c, mp, async () => {
      try {
        rmdirSync(join(mp, sr.uuid));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
          throw smError('NFSDelete', `rmdir ${sr.uuid}: ${(e as Error).message}`);
      }
    });
  },

  async attach(sr, ctx) {
    const c = parseNfsConfig(sr.deviceConfig);
    const mp = mountPointOf(sr, ctx);
    if (!isMounted(mp)) {
      await testHost(c.server);
      await mountNfs(c, `${requirePath(c)}/${sr.uuid}`, mp);
    }
    try {
      const f = asFileSr(sr, ctx);
      return await fileDriver.attach(f.sr, f.ctx);
    } catch (e) {
      await unmount(mp).catch(() => undefined);
      throw e;
    }
  },

  async detach(sr, ctx) {
    await unmount(mountPointOf(sr, ctx));
  },

  async probe(dc, ctx): Promise<ProbeEntry[]> {
    const c = parseNfsConfig(dc);
    if (!c.serverpath) {
      await testHost(c.server);
      // As SM: no serverpath is an error whose text carries the server's export list.
      throw smError('ConfigServerPathMissing', undefined, await listExports(c.server));
    }
    const mp = join(mountDirOf(ctx), `probe-${randomUUID()}`);
    return withServerPath(c, mp, async () =>
      readdirSync(mp)
        .filter((n) => UUID.test(n))
        .map((uuid) => ({ uuid, where: `${c.server}:${c.serverpath}/${uuid}` })),
    );
  },

  stats: async (sr, ctx) => {
    const f = mounted(sr, ctx);
    return fileDriver.stats(f.sr, f.ctx);
  },
  scan: async (sr, ctx) => {
    const f = mounted(sr, ctx);
    return fileDriver.scan(f.sr, f.ctx);
  },
  volume: async (sr, location, ctx) => {
    const f = mounted(sr, ctx);
    return fileDriver.volume(f.sr, location, f.ctx);
  },
  vdiCreate: async (sr, uuid, size, ctx) => {
    const f = mounted(sr, ctx);
    return fileDriver.vdiCreate(f.sr, uuid, size, f.ctx);
  },
  vdiDestroy: async (sr, location, ctx) => {
    const f = mounted(sr, ctx);
    return fileDriver.vdiDestroy(f.sr, location, f.ctx);
  },
  vdiResize: async (sr, location, size, ctx) => {
    const f = mounted(sr, ctx);
    return fileDriver.vdiResize(f.sr, location, size, f.ctx);
  },
  vdiClone: async (sr, location, newUuid, ctx) => {
    const f = mounted(sr, ctx);
    return fileDriver.vdiClone(f.sr, location, newUuid, f.ctx);
  },
  liveSnapshot: async (sr, location, newUuid, ctx) => {
    const f = mounted(sr, ctx);
    return fileDriver.liveSnapshot!(f.sr, location, newUuid, f.ctx);
  },
  vdiImport: async (sr, newUuid, src, ctx) => {
    const f = mounted(sr, ctx);
    return fileDriver.vdiImport(f.sr, newUuid, src, f.ctx);
  },
  newVolumeSize: fileDriver.newVolumeSize,
  growSize: fileDriver.growSize,
  importSize: fileDriver.importSize,
  gc: async (sr, busy, ctx) => {
    const f = mounted(sr, ctx);
    return fileDriver.gc(f.sr, busy, f.ctx);
  },
};
