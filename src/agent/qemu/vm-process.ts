// One QEMU process: launch (in its own session, no pipes to the agent, so it outlives the agent),
// adoption by a restarted agent (pid file + /proc/<pid>/cmdline check + QMP reconnect), control
// through QMP, and state changes from QMP events and the end of the QMP connection.
// Emits 'state' (state, reason) and 'reset' (reason).
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { logger } from '../../shared/log.js';
import type { InstanceInfo, InstanceSpec, InstanceState } from '../../shared/noded/instance.js';
import { XenApiError } from '../../shared/errors.js';
import type { DiskSpec, NicSpec } from '../../shared/noded/instance.js';
import {
  diskDeviceId,
  INCOMING_FD,
  type LaunchOptions,
  launcherArgs,
  nicDeviceId,
  qemuArgs,
  type RuntimePaths,
} from './command-line.js';
import { fdpassBinary, makeDevNode, passFd } from './fdpass.js';
import { readIdentity, writeIdentity } from './identity.js';
import { type Owner, restoreAllLabels, restoreLabel } from './dac.js';
import {
  diskAddCommands,
  diskNodeName,
  freePort,
  initialPorts,
  mediaCommand,
  nicAddCommands,
  type PortMap,
  type QmpCommand,
  releaseCommands,
} from './hotplug.js';
import { alive, inOwnMountNs, isOurQemu, lookupUser, readPid, sleep, waitGone } from './proc.js';
import {
  type BlockInfo,
  carryOnNode,
  type OverlaySpec,
  overlayAddCommand,
  overlayDelCommand,
  overlayNodeName,
  snapshotBitmapsBefore,
  snapshotCatchUp,
  snapshotTransaction,
  topNodes,
} from './live-snapshot.js';
import { QmpClient, type QmpEvent } from './qmp.js';
import { type CatchUpStep, type LiveCbtOp, liveCbt } from './cbt-live.js';
import { openStateFile } from './state-file.js';
import { readMigrationMark } from '../migration/mark.js';

const log = logger('qemu');

export const QEMU_BINARY = process.env.BERTH_QEMU ?? 'qemu-system-x86_64';

/** How often a clean shutdown presses the power button again while the guest ignores it. */
export const POWER_BUTTON_REPEAT_MS = 3000;

/** Writes a JSON file atomically (temp file + rename), readable by root only. */
function writeJsonAtomic(path: string, value: unknown): void {
  writeFileSync(`${path}.tmp`, JSON.stringify(value), { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Maps QEMU's SHUTDOWN reason (or its absence) to the instance state after QEMU exited. */
export function exitOutcome(
  stoppedByAgent: boolean,
  shutdownReason: string | undefined,
): { state: InstanceState; reason: string } {
  if (stoppedByAgent) return { state: 'shutdown', reason: 'stopped' };
  switch (shutdownReason) {
    case 'guest-shutdown':
    case 'host-qmp-quit':
    case 'host-qmp-system-reset':
    case 'guest-reset':
      return { state: 'shutdown', reason: shutdownReason };
    case 'guest-panic':
      return { state: 'crashed', reason: 'guest-panic' };
    case undefined:
      return { state: 'crashed', reason: 'qemu-exited' };
    default:
      return { state: 'crashed', reason: shutdownReason };
  }
}

export class QemuVm extends EventEmitter {
  state: InstanceState = 'absent';
  pid?: number;
  startedAt?: number;
  vncPort?: number;
  private qmp?: QmpClient;
  /** Set while the agent itself stops the VM (so the exit is not reported as a crash). */
  private stopping = false;
  /** While launching, events do not change the state (launch reports the outcome itself). */
  private launching = false;
  /** While a checkpoint stops and restarts the vCPUs, STOP/RESUME do not change the state. */
  private quiet = false;
  /**
   * While a live migration moves this VM in or out (migration/), QEMU's own STOP/RESUME (the
   * final stop-and-copy, a non-live migration's pause, an incoming VM) are no state change.
   */
  migrating: false | 'in' | 'out' = false;
  private shutdownReason?: string;
  private finished = false;
  private ports: PortMap;
  /** The VM's own uid/gid when QEMU runs under a per-VM identity (recorded in its runtime dir). */
  identity?: Owner;
  /** The last balloon target the agent set (statistics' memory_target; spec.memoryBytes before). */
  balloonTarget?: number;

  constructor(
    readonly spec: InstanceSpec,
    readonly paths: RuntimePaths,
  ) {
    super();
    this.ports = initialPorts(spec);
  }

  info(): InstanceInfo {
    return {
      uuid: this.spec.uuid,
      state: this.state,
      pid: this.pid,
      vcpus: this.spec.vcpus,
      memoryBytes: this.spec.memoryBytes,
      startedAt: this.startedAt,
      vncSocket: (this.spec.vnc ?? 'unix') === 'unix' ? this.paths.vnc : undefined,
      vncPort: this.vncPort,
      serialSocket: this.paths.serial,
      consoleLog: this.paths.consoleLog,
    };
  }

  private setState(state: InstanceState, reason?: string) {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state, reason);
  }

  /**
   * Launches QEMU (stopped), attaches QMP, loads the saved state if `incomingState` is given,
   * sets the balloon target, then runs the guest unless the spec says paused.
   */
  async launch(opts: LaunchOptions, incomingState?: string, awaitMigration = false): Promise<void> {
    if (opts.runAs && !opts.identity && !lookupUser(opts.runAs))
      throw new Error(`unknown user ${opts.runAs} for QEMU`);
    // Root's alone: QEMU opens its sockets here as root, before its drop, and never by name after
    // it (its suspend file comes as a descriptor).
    mkdirSync(this.paths.dir, { recursive: true, mode: 0o700 });
    chmodSync(this.paths.dir, 0o700);
    mkdirSync(dirname(this.paths.consoleLog), { recursive: true, mode: 0o700 });
    for (const f of [this.paths.qmp, this.paths.fdpass, this.paths.serial, this.paths.vnc, this.paths.pid])
      rmSync(f, { force: true });
    this.ports = initialPorts(this.spec);
    this.saveSpec();
    // Recorded before QEMU exists: a restarted agent (or the next start's id choice) sees it.
    this.identity = opts.identity;
    if (opts.identity) writeIdentity(this.paths.dir, opts.identity);

    const args = qemuArgs(this.spec, this.paths, {
      ...opts,
      incoming: incomingState !== undefined || awaitMigration,
    });
    const launcher = await fdpassBinary();
    const errFd = openSync(this.paths.errLog, 'w', 0o600);
    const stateFd = incomingState !== undefined ? openSync(incomingState, 'r') : undefined;
    // detached: its own session, so signals to the agent's group do not reach it; no pipes: the
    // agent can die without QEMU getting SIGPIPE. (-daemonize would fork after the sandbox is on.)
    const stdio: ('ignore' | number)[] = ['ignore', errFd, errFd];
    if (stateFd !== undefined) stdio[INCOMING_FD] = stateFd;
    // berth-fdpass opens the TAPs onto QEMU's descriptors, then execs QEMU (same pid).
    const child = spawn(launcher, launcherArgs(this.spec, QEMU_BINARY, args, opts), {
      detached: true,
      stdio,
    });
    closeSync(errFd);
    if (stateFd !== undefined) closeSync(stateFd);
    child.unref();
    let exited = false;
    child.once('exit', () => {
      exited = true;
    });
    child.once('error', () => {
      exited = true;
    });
    this.pid = child.pid;
    this.launching = true;
    try {
      await this.attachWhenReady(() => exited);
      this.startedAt = Date.now();
      const qmp = this.qmp!;
      if (awaitMigration) {
        // An incoming live migration (migration/incoming.ts): QEMU waits for `migrate-incoming`.
        this.migrating = 'in';
        if (this.spec.vnc === 'localhost') await this.readVncPort(qmp);
        this.launching = false;
        this.setState('paused', 'migrating-in');
        return;
      }
      if (incomingState !== undefined) await this.loadState(qmp);
      else if (this.spec.balloon && this.spec.memoryBytes < this.spec.memoryMaxBytes)
        await qmp.command('balloon', { value: this.spec.memoryBytes });
      if (this.spec.vnc === 'localhost') await this.readVncPort(qmp);
      if (!this.spec.startPaused) await qmp.command('cont');
    } catch (e) {
      const why = readFileSafe(this.paths.errLog).trim();
      await this.kill();
      this.cleanup();
      const msg = e instanceof Error ? e.message : String(e);
      throw new Error(`QEMU failed to start: ${why ? `${why} (${msg})` : msg}`);
    } finally {
      this.launching = false;
    }
    this.setState(this.spec.startPaused ? 'paused' : 'running', 'started');
  }

  /** Waits for QEMU's QMP socket and attaches; fails if QEMU exits first or within 30 s. */
  private async attachWhenReady(exited: () => boolean): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (exited()) throw new Error('QEMU exited');
      if (existsSync(this.paths.qmp)) {
        try {
          await this.attach();
          return;
        } catch (e) {
          if (Date.now() > deadline || exited()) throw e;
        }
      }
      if (Date.now() > deadline) throw new Error('no QMP socket after 30 s');
      await sleep(10);
    }
  }

  private async loadState(qmp: QmpClient): Promise<void> {
    await qmp.command('migrate-incoming', { uri: `fd:${INCOMING_FD}` });
    for (;;) {
      const s = await qmp.command<{ status?: string; 'error-desc'?: string }>('query-migrate');
      if (s.status === 'completed') return;
      if (s.status === 'failed' || s.status === 'cancelled')
        throw new Error(`loading the saved state failed: ${s['error-desc'] ?? s.status}`);
      await sleep(20);
    }
  }

  private async readVncPort(qmp: QmpClient): Promise<void> {
    const vnc = await qmp.command<{ service?: string }>('query-vnc');
    this.vncPort = vnc.service ? Number(vnc.service) : undefined;
  }

  /** Re-attaches to a QEMU started by an earlier agent. False if it is gone or unusable. */
  async adopt(): Promise<boolean> {
    const pid = readPid(this.paths.pid);
    if (!pid || !alive(pid) || !isOurQemu(pid, this.spec.uuid)) return false;
    this.pid = pid;
    this.ports = savedPorts(this.paths) ?? initialPorts(this.spec);
    this.identity = readIdentity(this.paths.dir);
    try {
      this.startedAt = statSync(this.paths.pid).mtimeMs;
      await this.attach();
      const status = await this.qmp!.command<{ status: string; running: boolean }>('query-status');
      // A live migration in or out survives an agent restart (migration/mark.ts).
      const mark = readMigrationMark(this.paths.dir);
      if (mark) {
        this.migrating = mark.role === 'dst' ? 'in' : 'out';
        if (this.spec.vnc === 'localhost') await this.readVncPort(this.qmp!);
        this.state = mark.role === 'src' && mark.wasRunning ? 'running' : 'paused';
        return true;
      }
      if (status.status === 'inmigrate' || status.status === 'guest-panicked') {
        // A resume the previous agent did not finish, or a panicked guest: not a usable VM.
        log.warn('killing a QEMU that cannot be adopted', { uuid: this.spec.uuid, status: status.status });
        this.stopping = true;
        await this.kill();
        this.cleanup();
        return false;
      }
      if (this.spec.vnc === 'localhost') await this.readVncPort(this.qmp!);
      this.state = status.running ? 'running' : 'paused';
      return true;
    } catch (e) {
      log.warn('could not re-attach to QEMU', { uuid: this.spec.uuid, error: String(e) });
      return false;
    }
  }

  private async attach() {
    const qmp = await QmpClient.connect(this.paths.qmp);
    this.qmp = qmp;
    qmp.on('event', (e: QmpEvent) => this.onEvent(e));
    qmp.once('closed', () => void this.onQmpClosed(qmp));
  }

  private onEvent(e: QmpEvent) {
    switch (e.event) {
      case 'SHUTDOWN':
        this.shutdownReason = typeof e.data?.reason === 'string' ? e.data.reason : 'unknown';
        break;
      case 'STOP':
        if (!this.launching && !this.quiet && !this.migrating && this.state === 'running')
          this.setState('paused', 'paused');
        break;
      case 'RESUME':
        if (!this.launching && !this.quiet && !this.migrating && this.state === 'paused')
          this.setState('running', 'resumed');
        break;
      case 'RESET':
        if (!this.launching && e.data?.reason !== 'host-qmp-quit')
          this.emit('reset', e.data?.guest === true ? 'guest-reset' : 'host-reset');
        break;
      case 'GUEST_PANICKED':
        this.shutdownReason = 'guest-panic';
        break;
      case 'DEVICE_DELETED':
        if (typeof e.data?.device === 'string') void this.onDeviceDeleted(e.data.device);
        break;
      default:
        break;
    }
  }

  /** QMP closes when QEMU exits (guest power-off, quit, crash, kill). */
  private async onQmpClosed(qmp: QmpClient) {
    if (qmp !== this.qmp || this.launching) return;
    this.qmp = undefined;
    if (this.pid && !(await waitGone(this.pid, 2000))) {
      // QEMU lives on without its monitor: unmanageable, so it is stopped for good.
      log.warn('QMP closed but QEMU still runs: killing it', { uuid: this.spec.uuid, pid: this.pid });
      await this.kill();
    }
    this.finish();
  }

  private finish() {
    if (this.finished) return;
    this.finished = true;
    const { state, reason } = exitOutcome(this.stopping, this.shutdownReason);
    this.cleanup();
    this.setState(state, reason);
  }

  /** SIGKILL and wait (no QEMU outlives a stop). */
  private async kill() {
    if (!this.pid || !alive(this.pid)) return;
    try {
      process.kill(this.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
    await waitGone(this.pid, 5000);
  }

  private cleanup() {
    this.qmp?.removeAllListeners();
    this.qmp?.close();
    this.qmp = undefined;
    restoreAllLabels(this.paths.dir); // hot-plugged images go back to their owners
    rmSync(this.paths.dir, { recursive: true, force: true });
  }

  /** The VM's QMP client (the data plane's NBD exports use it too); throws once QEMU is gone. */
  requireQmp(): QmpClient {
    if (!this.qmp || this.qmp.closed) throw new Error(`VM ${this.spec.uuid} is not running`);
    return this.qmp;
  }

  /** Resolves true when QEMU has exited (and the state is final), false after `ms`. */
  waitExit(ms: number): Promise<boolean> {
    if (this.finished) return Promise.resolve(true);
    return new Promise((resolve) => {
      const onState = () => {
        if (!this.finished) return;
        clearTimeout(timer);
        this.off('state', onState);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.off('state', onState);
        resolve(false);
      }, ms);
      this.on('state', onState);
    });
  }

  /**
   * ACPI power button, pressed again every `repeatMs` until the guest powers off or `timeoutMs`
   * ends (false). A press before the guest's kernel listens (early boot, just after a resume) is
   * lost, so one press is not enough: xapi's own powercycle.py shuts down right after a start.
   */
  async cleanShutdown(timeoutMs: number, repeatMs = POWER_BUTTON_REPEAT_MS): Promise<boolean> {
    this.stopping = true;
    const deadline = Date.now() + timeoutMs;
    try {
      await this.requireQmp().command('system_powerdown');
    } catch (e) {
      this.stopping = false;
      throw e;
    }
    for (;;) {
      const left = deadline - Date.now();
      if (await this.waitExit(Math.max(0, Math.min(left, repeatMs)))) return true;
      if (Date.now() >= deadline) break;
      this.presses++;
      await this.qmp?.command('system_powerdown').catch(() => undefined); // QEMU may be exiting
    }
    this.stopping = false;
    return false;
  }

  /** Extra power-button presses cleanShutdown needed (tests). */
  presses = 0;

  /** `quit`, then SIGKILL if QEMU lingers. */
  async hardShutdown(): Promise<void> {
    this.stopping = true;
    const hadQmp = this.qmp !== undefined;
    try {
      await this.qmp?.command('quit', undefined, 5000);
    } catch {
      /* the socket closes as QEMU exits */
    }
    if (!hadQmp || !(await this.waitExit(5000))) {
      await this.kill();
      this.finish();
    }
  }

  async reset(): Promise<void> {
    await this.requireQmp().command('system_reset');
  }

  async pause(): Promise<void> {
    await this.requireQmp().command('stop');
    this.setState('paused', 'paused');
  }

  async unpause(): Promise<void> {
    await this.requireQmp().command('cont');
    this.setState('running', 'resumed');
  }

  /**
   * The end of a live migration on this VM: it is an ordinary VM again, in the state QEMU is in
   * (`cont` first when `resume`), the change told with `reason`.
   */
  async endMigration(resume: boolean, reason: string): Promise<void> {
    const qmp = this.requireQmp();
    if (resume) await qmp.command('cont');
    const status = await qmp.command<{ running: boolean }>('query-status');
    this.migrating = false;
    this.setState(status.running ? 'running' : 'paused', reason);
  }

  async balloon(bytes: number): Promise<void> {
    if (!this.spec.balloon) throw new Error('this VM has no balloon device');
    await this.requireQmp().command('balloon', { value: bytes });
    this.balloonTarget = bytes;
  }

  /**
   * Suspend: stops the guest, has QEMU write device and memory state into `path` (fsynced,
   * renamed into place when complete), then ends QEMU. On failure the guest runs again as before.
   * The agent opens the file (root's, 0600) and hands QEMU the descriptor on its fd-passing
   * monitor (`getfd` + `migrate fd:…` via berth-fdpass): an unprivileged QEMU needs no path.
   */
  async saveState(path: string): Promise<void> {
    const qmp = this.requireQmp();
    const wasRunning = this.state === 'running';
    try {
      await qmp.command('stop');
      await this.writeState(path);
    } catch (e) {
      if (wasRunning && this.qmp) await this.qmp.command('cont').catch(() => undefined);
      throw e;
    }
    await this.hardShutdown();
  }

  /**
   * Has the (stopped) QEMU write its device and memory state into `path` (fsynced, renamed into
   * place when complete; removed on failure).
   */
  private async writeState(path: string): Promise<void> {
    const qmp = this.requireQmp();
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const file = openStateFile(path);
    try {
      // A local file: no reason to throttle the stream (QEMU's default is 128 MiB/s).
      await qmp.command('migrate-set-parameters', { 'max-bandwidth': 64 * 1024 * 1024 * 1024 });
      await passFd(
        this.paths.fdpass,
        'migrate',
        { execute: 'migrate', arguments: { uri: 'fd:migrate' } },
        { fd: file.fd },
      );
      for (;;) {
        const s = await qmp.command<{ status?: string; 'error-desc'?: string }>('query-migrate');
        if (s.status === 'completed') break;
        if (s.status === 'failed' || s.status === 'cancelled') {
          // QEMU 7.2 often leaves error-desc out; what it printed says why.
          const said = readFileSafe(this.paths.errLog).trim().split('\n').slice(-2).join(' ');
          throw new Error(
            `saving the state failed: ${s['error-desc'] ?? s.status}${said ? ` (QEMU: ${said})` : ''}`,
          );
        }
        await sleep(20);
      }
      file.commit();
    } catch (e) {
      file.abort();
      rmSync(path, { force: true });
      throw e;
    }
  }

  /** `cont` after a checkpoint; the error if QEMU refused. */
  private async resumeAfter(): Promise<Error | undefined> {
    try {
      await this.requireQmp().command('cont');
      return undefined;
    } catch (e) {
      log.warn('could not resume the guest after a checkpoint', { uuid: this.spec.uuid, error: String(e) });
      return e instanceof Error ? e : new Error(String(e));
    }
  }

  /** Overlay node names of live snapshots: unique within this QEMU (and across agent restarts). */
  private snapSeq = Date.now();

  /**
   * Live snapshot (live-snapshot.ts): opens each disk's new overlay, then one QMP transaction
   * moves every disk onto its overlay at the same instant. With `memoryPath` (a checkpoint) the
   * vCPUs stop first and the state is saved after the transaction, then the guest runs again as
   * it was. On failure the overlays are closed again and nothing changed for the guest.
   */
  async snapshotDisks(
    overlays: OverlaySpec[],
    memoryPath?: string,
  ): Promise<{ transactionMs: number; vcpuPauseMs: number }> {
    const qmp = this.requireQmp();
    const blocks = overlays.length ? await qmp.command<BlockInfo[]>('query-block') : [];
    const tops = overlays.length
      ? topNodes(
          blocks,
          overlays.map((o) => o.device),
        )
      : {};
    const nodes = overlays.map((o) => overlayNodeName(o.device, this.snapSeq++));
    const added: string[] = [];
    const wasRunning = this.state === 'running';
    let stoppedAt: number | undefined;
    let transactionMs = 0;
    let failure: Error | undefined;
    let moved = false;
    try {
      for (const [i, o] of overlays.entries()) {
        const c = overlayAddCommand(nodes[i], o.path);
        await qmp.command(c.execute, c.arguments);
        added.push(nodes[i]);
      }
      const disks = overlays.map((o, i) => ({
        top: tops[o.device],
        overlay: nodes[i],
        ...(o.cbt ? { cbt: carryOnNode(blocks, o.device, o.cbt) } : {}),
      }));
      // CBT bitmaps go onto the overlays now, outside the pause (cbt-live.ts).
      for (const c of snapshotBitmapsBefore(disks)) await qmp.command(c.execute, c.arguments);
      const tx = snapshotTransaction(disks);
      if (memoryPath !== undefined) {
        this.quiet = true; // a checkpoint's stop/cont is no pause for the manager
        stoppedAt = performance.now();
        await qmp.command('stop');
      }
      const t0 = performance.now();
      if (overlays.length) await qmp.command(tx.execute, tx.arguments);
      transactionMs = performance.now() - t0;
      added.length = 0; // part of the disks' chains now
      moved = true;
      await this.cbtCatchUp(snapshotCatchUp(disks));
      if (memoryPath !== undefined) await this.writeState(memoryPath);
    } catch (e) {
      for (const n of added.reverse()) {
        const c = overlayDelCommand(n);
        await qmp.command(c.execute, c.arguments).catch(() => undefined);
      }
      failure = hotplugError(e);
    }
    if (stoppedAt !== undefined) {
      // The guest runs again whatever happened; a QEMU refusing is an error, not a pause.
      const refused = wasRunning ? await this.resumeAfter() : undefined;
      this.quiet = false;
      if (refused) failure ??= hotplugError(refused);
    }
    // The disks are on their overlays already: the caller must keep them (only the memory failed).
    if (failure) throw moved ? new DisksMovedError(failure) : failure;
    const vcpuPauseMs = stoppedAt === undefined || !wasRunning ? 0 : performance.now() - stoppedAt;
    return { transactionMs, vcpuPauseMs };
  }

  /**
   * The kept CBT generations' history onto the new layers (live-snapshot.ts snapshotCatchUp). A
   * generation whose merge fails is removed from the new layer (it would under-report): diffs
   * from it then answer VDI_NO_CBT_METADATA, as after any interrupted tracking; the snapshot
   * itself stands. A removal that fails too is logged as an error (that bitmap may then
   * under-report until CBT is disabled); a QEMU that died meanwhile leaves its bitmaps marked
   * in use in the image, and those are never trusted.
   */
  private async cbtCatchUp(steps: CatchUpStep[]): Promise<void> {
    const qmp = this.requireQmp();
    const send = (c: QmpCommand) => qmp.command(c.execute, c.arguments);
    const bitmap = (s: CatchUpStep) => String(s.undo.arguments.name);
    for (const step of steps) {
      try {
        await send(step.merge);
      } catch (e) {
        log.warn('live snapshot: a CBT generation was not carried', {
          uuid: this.spec.uuid,
          bitmap: bitmap(step),
          error: String(e),
        });
        await send(step.undo).catch((err) =>
          log.error('live snapshot: could not drop an incomplete CBT bitmap', {
            uuid: this.spec.uuid,
            bitmap: bitmap(step),
            error: String(err),
          }),
        );
      }
      await send(step.freeze).catch((e) =>
        log.warn('live snapshot: an old layer bitmap stays enabled (nothing writes that layer)', {
          uuid: this.spec.uuid,
          bitmap: bitmap(step),
          error: String(e),
        }),
      );
    }
  }

  /** Persists the current spec and port map (adoption and clean reboot start from them). */
  saveSpec() {
    writeJsonAtomic(this.paths.spec, this.spec);
    writeJsonAtomic(this.paths.ports, this.ports);
  }

  /** Sends commands in order; on a failure, runs `undo` for those that succeeded, then throws. */
  private async sendAll(cmds: QmpCommand[], undo: (done: QmpCommand[]) => QmpCommand[]): Promise<void> {
    const qmp = this.requireQmp();
    const done: QmpCommand[] = [];
    for (const c of cmds) {
      try {
        if (c.passTap)
          await passFd(
            this.paths.fdpass,
            String(c.arguments.fd),
            { execute: c.execute, arguments: c.arguments },
            { tap: c.passTap },
          );
        else await qmp.command(c.execute, c.arguments);
        done.push(c);
      } catch (e) {
        for (const u of undo(done)) await qmp.command(u.execute, u.arguments).catch(() => undefined);
        throw hotplugError(e);
      }
    }
  }

  private hasDevice(id: string): boolean {
    return (
      this.spec.disks.some((d) => diskDeviceId(d.device) === id) ||
      this.spec.nics.some((n) => nicDeviceId(n.device) === id)
    );
  }

  /** Hot-adds a virtio disk into a free root port. */
  async addDisk(disk: DiskSpec): Promise<void> {
    if (disk.cdrom) throw new XenApiError('OPERATION_NOT_ALLOWED', ['CD drives cannot be hot-plugged']);
    if (this.hasDevice(diskDeviceId(disk.device)))
      throw new XenApiError('DEVICE_ALREADY_ATTACHED', [diskDeviceId(disk.device)]);
    await this.provideDevNode(disk.path);
    await this.hotAdd('disk', diskDeviceId(disk.device), disk.device, (port) => diskAddCommands(disk, port));
    this.spec.disks.push(disk);
    this.saveSpec();
  }

  /** Hot-adds a virtio NIC on the TAP the network layer created. */
  async addNic(nic: NicSpec): Promise<void> {
    await this.hotAdd('nic', nicDeviceId(nic.device), nic.device, (port) => nicAddCommands(nic, port));
    this.spec.nics.push(nic);
    this.saveSpec();
  }

  /** Sends a device's add commands for a free port; on failure releases its backend again. */
  private async hotAdd(
    kind: 'disk' | 'nic',
    id: string,
    device: string,
    commands: (port: string) => QmpCommand[],
  ): Promise<void> {
    if (this.hasDevice(id)) throw new XenApiError('DEVICE_ALREADY_ATTACHED', [id]);
    const port = freePort(this.ports);
    // Once the backend (block node / netdev) exists, a failed device_add must free it.
    await this.sendAll(commands(port), (done) => (done.length ? releaseCommands(kind, device) : []));
    this.ports.used[id] = port;
  }

  /**
   * Asks the guest to release a disk or NIC (device_del) and waits for QEMU's DEVICE_DELETED;
   * DEVICE_DETACH_REJECTED if the guest does not let go within `timeoutMs` (the device then
   * goes whenever the guest releases it).
   */
  async removeDevice(kind: 'disk' | 'nic', device: string, timeoutMs: number): Promise<void> {
    const id = kind === 'disk' ? diskDeviceId(device) : nicDeviceId(device);
    const disk = this.spec.disks.find((d) => d.device === device);
    if (kind === 'disk' ? !disk : !this.spec.nics.some((n) => n.device === device))
      throw new XenApiError('DEVICE_ALREADY_DETACHED', [id]);
    if (disk?.cdrom) throw new XenApiError('OPERATION_NOT_ALLOWED', ['CD drives cannot be hot-unplugged']);
    const qmp = this.requireQmp();
    const gone = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.off('device-deleted', onDeleted);
        resolve(false);
      }, timeoutMs);
      const onDeleted = (deleted: string) => {
        if (deleted !== id) return;
        clearTimeout(timer);
        this.off('device-deleted', onDeleted);
        resolve(true);
      };
      this.on('device-deleted', onDeleted);
    });
    try {
      await qmp.command('device_del', { id });
    } catch (e) {
      this.emit('device-deleted', id); // ends the wait above
      await gone;
      throw hotplugError(e);
    }
    if (!(await gone))
      throw new XenApiError('DEVICE_DETACH_REJECTED', [
        kind === 'disk' ? 'VBD' : 'VIF',
        device,
        `the guest did not release ${id} within ${Math.round(timeoutMs / 1000)} s`,
      ]);
  }

  /** DEVICE_DELETED: the guest let go; release the backend and forget the device. */
  private async onDeviceDeleted(id: string) {
    const disk = this.spec.disks.find((d) => diskDeviceId(d.device) === id);
    const nic = this.spec.nics.find((n) => nicDeviceId(n.device) === id);
    if (!disk && !nic) return;
    if (disk) this.spec.disks = this.spec.disks.filter((d) => d !== disk);
    if (nic) this.spec.nics = this.spec.nics.filter((n) => n !== nic);
    delete this.ports.used[id];
    this.saveSpec();
    // A boot-time -drive goes with its device; blockdev-del then fails harmlessly.
    for (const c of releaseCommands(disk ? 'disk' : 'nic', (disk ?? nic)!.device))
      await this.qmp?.command(c.execute, c.arguments).catch(() => undefined);
    if (disk) restoreLabel(this.paths.dir, disk.device);
    this.emit('device-deleted', id);
  }

  /** Inserts a medium into a CD drive, or ejects it (null). */
  async changeMedia(device: string, media: { path: string; format: string } | null): Promise<void> {
    const disk = this.spec.disks.find((d) => d.device === device);
    if (!disk?.cdrom) throw new XenApiError('VBD_NOT_REMOVABLE_MEDIA', [device]);
    const c = mediaCommand(device, media);
    try {
      if (media) await this.provideDevNode(media.path);
      await this.requireQmp().command(c.execute, c.arguments);
    } catch (e) {
      throw hotplugError(e);
    }
    disk.path = media?.path ?? '';
    if (media) disk.format = media.format === 'qcow2' ? 'qcow2' : 'raw';
    this.saveSpec();
  }

  /**
   * Grows a disk under the running guest (QMP block_resize; for qcow2 QEMU grows the image
   * itself, a raw volume must already be that large). The guest sees the new capacity at once.
   */
  async resizeDisk(device: string, size: number): Promise<void> {
    const disk = this.spec.disks.find((d) => d.device === device);
    if (!disk || disk.cdrom) throw new XenApiError('DEVICE_ALREADY_DETACHED', [diskDeviceId(device)]);
    const qmp = this.requireQmp();
    // A boot-time disk is the BlockBackend `drive-…`; a hot-plugged one only has its node name.
    try {
      await qmp.command('block_resize', { device: `drive-${diskDeviceId(device)}`, size });
    } catch {
      try {
        await qmp.command('block_resize', { 'node-name': diskNodeName(device), size });
      } catch (e) {
        throw hotplugError(e);
      }
    }
  }

  /** CBT on a running disk: its persistent bitmaps over QMP (cbt-live.ts). */
  async diskCbt(device: string, op: LiveCbtOp, generation?: string): Promise<string[]> {
    const disk = this.spec.disks.find((d) => d.device === device);
    if (!disk || disk.cdrom) throw new XenApiError('DEVICE_ALREADY_DETACHED', [diskDeviceId(device)]);
    const qmp = this.requireQmp();
    const names = {
      drive: `drive-${diskDeviceId(device)}`,
      node: diskNodeName(device),
      qdev: diskDeviceId(device),
    };
    return liveCbt((c, a) => qmp.command(c, a), names, op, generation);
  }

  /**
   * A block device QEMU is to open after start (hot-plug, CD medium) must exist in its private
   * /dev, when it has one (its own mount namespace): berth-fdpass copies the node in.
   */
  private async provideDevNode(path: string): Promise<void> {
    if (!path.startsWith('/dev/') || !this.pid || !inOwnMountNs(this.pid)) return;
    try {
      await makeDevNode(this.pid, path);
    } catch (e) {
      throw hotplugError(e);
    }
  }

  /** Stops watching the VM and leaves it running (agent shutdown). */
  detach() {
    this.qmp?.removeAllListeners();
    this.qmp?.close();
    this.qmp = undefined;
  }
}

/** A checkpoint whose disks were snapshotted but whose memory could not be saved. */
export class DisksMovedError extends Error {
  constructor(readonly failure: Error) {
    super(failure.message);
  }
}

/** QEMU refusing a hot-plug command becomes an API error carrying QEMU's reason. */
function hotplugError(e: unknown): Error {
  if (e instanceof XenApiError) return e;
  return new XenApiError('INTERNAL_ERROR', [`QEMU: ${e instanceof Error ? e.message : String(e)}`]);
}

/** The port map saved next to the spec (undefined if absent: a VM from an older agent). */
function savedPorts(paths: RuntimePaths): PortMap | undefined {
  try {
    const m = JSON.parse(readFileSync(paths.ports, 'utf8')) as PortMap;
    return Array.isArray(m?.ports) && m.used && typeof m.used === 'object' ? m : undefined;
  } catch {
    return undefined;
  }
}

/** The spec a VM was started from, saved in its runtime directory (undefined if unreadable). */
export function savedSpec(paths: RuntimePaths): InstanceSpec | undefined {
  try {
    const spec = JSON.parse(readFileSync(paths.spec, 'utf8')) as InstanceSpec;
    return spec && typeof spec.uuid === 'string' ? spec : undefined;
  } catch {
    return undefined;
  }
}
