// Storage migration in QEMU's block layer (libvirt's "NBD storage migration"), over one VM's QMP:
//   destination: its (incoming) QEMU serves each mirrored disk's new, empty volume writable over
//                NBD (`nbd-server-start` + `block-export-add`), TLS between hosts, a Unix socket on
//                one host;
//   source:      an NBD client node per disk (`blockdev-add`, same TLS) and a `blockdev-mirror
//                sync=full` job into it; once every job is ready, memory migration follows (the
//                caller's); after it completed (source paused) `block-job-cancel` of a ready job
//                flushes what is left and leaves the target a consistent copy (before completion
//                it abandons the copy); then the client nodes go.
// No RPC here: the migration procedures (rpc.ts) and instance_disk_mirror (disk-mirror.ts) call
// these. Jobs and nodes are named after the disk's device, so every function needs only QMP.
//
// A Unix socket is made by the agent, never by QEMU (unprivileged, it cannot create one in the
// agent's run directory, nor reach one there): the destination's listening socket and the source's
// connected one are handed over as descriptors on the VM's fd-passing monitor (berth-fdpass).
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { Socket } from 'node:net';
import type { IncomingMigration, MirrorDisk } from '../../shared/host/migration.js';
import { MIGRATION_PORTS } from '../../shared/host/migration.js';
import { passFd } from '../qemu/fdpass.js';
import { handOverListeningSocket } from '../qemu/listening-socket.js';
import { type BlockInfo, topNodes } from '../qemu/live-snapshot.js';
import { sleep } from '../qemu/proc.js';

/** What these functions need of a QMP client (QmpClient; a fake in pure tests). */
export interface MirrorQmp {
  command<T = unknown>(execute: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T>;
}

/** The destination QEMU's NBD server as the source reaches it (IncomingMigration.nbd). */
export type MirrorNbd = NonNullable<IncomingMigration['nbd']>;

/** Where the destination's NBD server listens. */
export type MirrorListen =
  | {
      transport: 'tls';
      /** The address to listen on (the destination's management address). */
      address: string;
      /** A fixed port; absent: the first free one of MIGRATION_PORTS. */
      port?: number;
      /** The `tls-creds-x509` object (endpoint=server, verify-peer) the caller added. */
      tlsCredsId: string;
    }
  | {
      transport: 'unix';
      /** The socket's path (made by the agent, handed to QEMU as a descriptor). */
      socket: string;
      /** The VM's fd-passing monitor (RuntimePaths.fdpass). */
      fdpass: string;
    };

/** How the source reaches the destination's NBD server. */
export interface MirrorClientOptions {
  /** `tls-creds-x509` object (endpoint=client) for a TCP server; required for TCP. */
  tlsCredsId?: string;
  /** Bytes per second each job may copy (0 or absent: no limit; the migration's bandwidth). */
  speed?: number;
  /** The name the server's certificate must carry (default: the server's address). */
  tlsHostname?: string;
  /** The VM's fd-passing monitor: needed for a Unix-socket server (connected by the agent). */
  fdpass?: string;
}

// Device names (spec-check: [A-Za-z0-9_.-]{1,32}) are valid in QEMU ids after a letter prefix.
/** Job id of a disk's migration mirror (pure; the prefix tells Berth's jobs from others). */
export const MIRROR_JOB_PREFIX = 'berth-mirror-';
export const mirrorJobId = (device: string) => `${MIRROR_JOB_PREFIX}${device}`;
/** Node name of the NBD client a disk is mirrored into (QEMU node names ≤ 31 chars; pure). */
export const nbdNodeName = (device: string) => `mnbd-${device}`.slice(0, 31);
/** Export id / name of a disk on the destination's NBD server (pure). */
export const exportId = (device: string) => `berth-mirror-${device}`;
export const exportName = (device: string) => device;

const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

/** Is this QEMU error a port already taken (pure)? */
export function isAddressInUse(e: unknown): boolean {
  return /address already in use|EADDRINUSE|Failed to (bind|listen)/i.test(message(e));
}

/**
 * Runs `listen(port)` on the first port of `range` it succeeds on (skipping ports in use);
 * returns the port. Other errors end the search.
 */
export async function onFreePort(
  listen: (port: number) => Promise<void>,
  range: { first: number; last: number } = MIGRATION_PORTS,
): Promise<number> {
  for (let port = range.first; port <= range.last; port++) {
    try {
      await listen(port);
      return port;
    } catch (e) {
      if (!isAddressInUse(e)) throw e;
    }
  }
  throw new Error(`no free port in ${range.first}-${range.last} for the migration's NBD server`);
}

/** Each mirrored disk's block node in this QEMU (its `vbd-<device>` drive's top node). */
async function diskNodes(qmp: MirrorQmp, devices: readonly string[]): Promise<Record<string, string>> {
  return topNodes(await qmp.command<BlockInfo[]>('query-block'), [...devices]);
}

/** A listening Unix socket the agent made, handed to QEMU's `command` as descriptor `fdName`. */
async function withListeningSocket(
  socket: string,
  fdpass: string,
  command: (fdName: string) => { execute: string; arguments: Record<string, unknown> },
): Promise<void> {
  await handOverListeningSocket(socket, async (fd) => {
    const fdName = `mlisten-${randomBytes(4).toString('hex')}`;
    await passFd(fdpass, fdName, command(fdName), { fd });
  });
}

/** A connection the agent opened to a Unix socket, handed to QEMU's `command` as a descriptor. */
async function withConnectedSocket(
  socket: string,
  fdpass: string,
  command: (fdName: string) => { execute: string; arguments: Record<string, unknown> },
): Promise<void> {
  const conn = await new Promise<Socket>((resolve, reject) => {
    const c = new Socket();
    // Paused before it connects: Node must not read the server's greeting meant for QEMU.
    c.pause();
    c.once('error', reject);
    c.connect(socket, () => resolve(c));
  });
  try {
    const fd = (conn as unknown as { _handle: { fd: number } })._handle.fd;
    const fdName = `mconn-${randomBytes(4).toString('hex')}`;
    await passFd(fdpass, fdName, command(fdName), { fd });
  } finally {
    conn.destroy(); // QEMU holds its own duplicate
  }
}

/**
 * Destination: serves each mirrored disk's volume (opened by this QEMU, waiting for the incoming
 * migration) writable over NBD. Returns IncomingMigration.nbd: where the server listens and the
 * export name per device. On failure nothing stays (the server is stopped).
 */
export async function serveMirrorTargets(
  qmp: MirrorQmp,
  disks: readonly MirrorDisk[],
  listen: MirrorListen,
): Promise<MirrorNbd> {
  const nodes = await diskNodes(
    qmp,
    disks.map((d) => d.device),
  );
  let where: Pick<MirrorNbd, 'address' | 'port' | 'socket'>;
  if (listen.transport === 'tls') {
    const start = async (port: number) => {
      await qmp.command('nbd-server-start', {
        addr: { type: 'inet', data: { host: listen.address, port: String(port) } },
        'tls-creds': listen.tlsCredsId,
      });
    };
    let port = listen.port;
    if (port) await start(port);
    else port = await onFreePort(start);
    where = { address: listen.address, port };
  } else {
    await withListeningSocket(listen.socket, listen.fdpass, (fdName) => ({
      execute: 'nbd-server-start',
      arguments: { addr: { type: 'fd', data: { str: fdName } } },
    }));
    where = { address: '', port: 0, socket: listen.socket };
  }
  const exports: Record<string, string> = {};
  try {
    for (const d of disks) {
      await qmp.command('block-export-add', {
        type: 'nbd',
        id: exportId(d.device),
        'node-name': nodes[d.device],
        name: exportName(d.device),
        writable: true,
      });
      exports[d.device] = exportName(d.device);
    }
  } catch (e) {
    await stopMirrorTargets(qmp, listen.transport === 'unix' ? listen.socket : undefined);
    throw e;
  }
  return { ...where, exports };
}

/**
 * Destination: ends the exports and the NBD server (after the migration, before the guest runs
 * here; or on failure). Idempotent; `socket` (a Unix server's) is removed.
 */
export async function stopMirrorTargets(qmp: MirrorQmp, socket?: string): Promise<void> {
  const exports = await qmp
    .command<{ id: string }[]>('query-block-exports')
    .catch(() => [] as { id: string }[]);
  for (const x of exports)
    if (x.id.startsWith('berth-mirror-'))
      await qmp.command('block-export-del', { id: x.id, mode: 'hard' }).catch(() => undefined);
  await qmp.command('nbd-server-stop').catch(() => undefined); // not running: fine
  if (socket) rmSync(socket, { force: true });
}

/** blockdev-add of the NBD client node for `device` (pure). */
export function nbdClientNode(
  device: string,
  server: Record<string, unknown>,
  exportName: string,
  opts: { tlsCredsId?: string; tlsHostname?: string },
): Record<string, unknown> {
  return {
    driver: 'nbd',
    'node-name': nbdNodeName(device),
    server,
    export: exportName,
    ...(opts.tlsCredsId ? { 'tls-creds': opts.tlsCredsId } : {}),
    ...(opts.tlsCredsId && opts.tlsHostname ? { 'tls-hostname': opts.tlsHostname } : {}),
  };
}

/** blockdev-mirror of `node` into the NBD node of `device` (pure). */
export function mirrorCommand(
  device: string,
  node: string,
  target: string,
  speed = 0,
): Record<string, unknown> {
  return {
    'job-id': mirrorJobId(device),
    device: node,
    target,
    sync: 'full',
    ...(speed > 0 ? { speed } : {}),
    // Concluded jobs stay (with their error) until finishMirrors dismisses them.
    'auto-dismiss': false,
  };
}

/**
 * Source: mirrors each of `devices` into the destination's NBD server: a client node per disk,
 * then a `blockdev-mirror sync=full` job (id mirrorJobId). On failure every job and node started
 * here is removed again and the error thrown.
 */
export async function startMirrors(
  qmp: MirrorQmp,
  nbd: MirrorNbd,
  devices: readonly string[],
  opts: MirrorClientOptions = {},
): Promise<void> {
  if (!nbd.socket && !opts.tlsCredsId)
    throw new Error('a TCP NBD server is reached with TLS only (no tls-creds given)');
  if (nbd.socket && !opts.fdpass) throw new Error('a Unix NBD server needs the fd-passing monitor');
  const nodes = await diskNodes(qmp, devices);
  try {
    for (const device of devices) {
      const name = nbd.exports[device];
      if (!name) throw new Error(`the destination exports no disk ${device}`);
      if (nbd.socket) {
        await withConnectedSocket(nbd.socket, opts.fdpass as string, (fdName) => ({
          execute: 'blockdev-add',
          arguments: nbdClientNode(device, { type: 'fd', str: fdName }, name, {}),
        }));
      } else {
        const server = { type: 'inet', host: nbd.address, port: String(nbd.port) };
        await qmp.command(
          'blockdev-add',
          nbdClientNode(device, server, name, {
            tlsCredsId: opts.tlsCredsId,
            tlsHostname: opts.tlsHostname ?? nbd.address,
          }),
        );
      }
      await qmp.command(
        'blockdev-mirror',
        mirrorCommand(device, nodes[device], nbdNodeName(device), opts.speed),
      );
    }
  } catch (e) {
    await cancelMirrors(qmp, { force: true }).catch(() => undefined);
    await finishMirrors(qmp, devices);
    throw e;
  }
}

/** One job of QEMU's `query-jobs` answer. */
export interface JobInfo {
  id: string;
  type?: string;
  status: string;
  'current-progress': number;
  'total-progress': number;
  error?: string;
}

/** One job of QEMU's `query-block-jobs` answer (the fields used here). */
export interface BlockJobInfo {
  device: string;
  ready: boolean;
  offset: number;
  len: number;
}

export interface MirrorJobState {
  device: string;
  status: string;
  ready: boolean;
  transferred: number;
  total: number;
  error?: string;
}

export interface MirrorProgress {
  /** Bytes copied and bytes to copy over every job (the total grows while the guest writes). */
  transferred: number;
  total: number;
  /** Every job is ready (in sync, mirroring new writes): memory may follow. */
  ready: boolean;
  /** Some job failed or is gone before finishing (its error). */
  error?: string;
  jobs: MirrorJobState[];
}

/**
 * The state of Berth's mirror jobs (pure over `query-jobs` and `query-block-jobs`): a job is
 * ready once QEMU says so; a concluded job with an error, or one that ended before it was ready,
 * is a failure. `prefix` selects the jobs (default: the migration's).
 */
export function summarise(
  jobs: readonly JobInfo[],
  blockJobs: readonly BlockJobInfo[],
  prefix = MIRROR_JOB_PREFIX,
): MirrorProgress {
  const ours = jobs.filter((j) => j.id.startsWith(prefix)).sort((a, b) => (a.id < b.id ? -1 : 1));
  const states = ours.map((j): MirrorJobState => {
    const b = blockJobs.find((x) => x.device === j.id);
    return {
      device: j.id.slice(prefix.length),
      status: j.status,
      ready: b?.ready === true || j.status === 'ready',
      transferred: j['current-progress'],
      total: j['total-progress'],
      ...(j.error ? { error: j.error } : {}),
    };
  });
  const failed = states.find((s) => s.error);
  return {
    transferred: states.reduce((a, s) => a + s.transferred, 0),
    total: states.reduce((a, s) => a + s.total, 0),
    ready: states.length > 0 && states.every((s) => s.ready && !s.error),
    ...(failed ? { error: `mirror of ${failed.device}: ${failed.error}` } : {}),
    jobs: states,
  };
}

/** Berth's mirror jobs in this QEMU, summed (see summarise). */
export async function mirrorProgress(qmp: MirrorQmp, prefix = MIRROR_JOB_PREFIX): Promise<MirrorProgress> {
  const [jobs, blockJobs] = await Promise.all([
    qmp.command<JobInfo[]>('query-jobs'),
    qmp.command<BlockJobInfo[]>('query-block-jobs'),
  ]);
  return summarise(jobs, blockJobs, prefix);
}

/**
 * Waits until every mirror job of `devices` is ready; throws the first job error, or when a job
 * is missing (it ended) or `timeoutMs` passed. `onProgress` sees each poll.
 */
export async function waitMirrorsReady(
  qmp: MirrorQmp,
  devices: readonly string[],
  opts: {
    timeoutMs?: number;
    pollMs?: number;
    onProgress?: (p: MirrorProgress) => void;
    prefix?: string;
  } = {},
): Promise<MirrorProgress> {
  const prefix = opts.prefix ?? MIRROR_JOB_PREFIX;
  const deadline = Date.now() + (opts.timeoutMs ?? 3_600_000);
  for (;;) {
    const p = await mirrorProgress(qmp, prefix);
    opts.onProgress?.(p);
    if (p.error) throw new Error(p.error);
    for (const d of devices) {
      const j = p.jobs.find((x) => x.device === d);
      if (!j || j.status === 'concluded' || j.status === 'null' || j.status === 'aborting')
        throw new Error(`the mirror of ${d} ended before it was in sync (${j?.status ?? 'gone'})`);
    }
    if (p.ready && p.jobs.length >= devices.length) return p;
    if (Date.now() > deadline)
      throw new Error(`the disk mirrors were not in sync within ${opts.timeoutMs} ms`);
    await sleep(opts.pollMs ?? 100);
  }
}

/** What a cancel left: per device, whether the target is a consistent copy. */
export interface CancelOutcome {
  device: string;
  /** The job was ready (and ended without error): the target equals the source at that point. */
  consistent: boolean;
  error?: string;
}

/**
 * `block-job-cancel` of every Berth mirror job (prefix) and waits until each concluded. A ready
 * job ends consistent (the target is a copy: after the memory migration completed, the source is
 * paused); one not yet ready, or `force`, abandons its copy. The jobs stay concluded until
 * finishMirrors.
 */
export async function cancelMirrors(
  qmp: MirrorQmp,
  opts: { force?: boolean; timeoutMs?: number; prefix?: string } = {},
): Promise<CancelOutcome[]> {
  const prefix = opts.prefix ?? MIRROR_JOB_PREFIX;
  const before = await mirrorProgress(qmp, prefix);
  const wasReady = new Map(before.jobs.map((j) => [j.device, j.ready]));
  for (const j of before.jobs) {
    if (j.status === 'concluded' || j.status === 'null') continue;
    await qmp
      .command('block-job-cancel', { device: `${prefix}${j.device}`, force: opts.force === true })
      .catch(() => undefined); // it may have ended meanwhile
  }
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    const p = await mirrorProgress(qmp, prefix);
    if (p.jobs.every((j) => j.status === 'concluded' || j.status === 'null'))
      return p.jobs.map((j) => ({
        device: j.device,
        consistent: !opts.force && wasReady.get(j.device) === true && !j.error,
        ...(j.error ? { error: j.error } : {}),
      }));
    if (Date.now() > deadline) throw new Error('the disk mirror jobs did not end after block-job-cancel');
    await sleep(50);
  }
}

/**
 * Source, at the end (success or failure): dismisses Berth's concluded mirror jobs and removes the
 * NBD client nodes of `devices`. Idempotent.
 */
export async function finishMirrors(qmp: MirrorQmp, devices: readonly string[]): Promise<void> {
  const jobs = await qmp.command<JobInfo[]>('query-jobs').catch(() => [] as JobInfo[]);
  for (const j of jobs)
    if (j.id.startsWith(MIRROR_JOB_PREFIX) && j.status === 'concluded')
      await qmp.command('job-dismiss', { id: j.id }).catch(() => undefined);
  for (const d of devices)
    await qmp.command('blockdev-del', { 'node-name': nbdNodeName(d) }).catch(() => undefined);
}
