// The agent's VMs: one QemuVm per running instance, keyed by uuid. Starts, stops and adopts
// QEMU processes, serialises operations per VM, and turns state changes into instance events.
import { EventEmitter } from 'node:events';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { XenApiError } from '../shared/errors.js';
import { logger } from '../shared/log.js';
import type {
  DiskSpec,
  HotplugAction,
  HotplugDevType,
  InstanceEvent,
  InstanceInfo,
  InstanceSpec,
  InstanceState,
  NicSpec,
} from '../shared/noded/instance.js';
import { type Accel, runtimePaths } from './qemu/command-line.js';
import type { LiveCbtOp } from './qemu/cbt-live.js';
import { checkDeviceName, checkDisk, checkNic, checkSpec, UUID_RE } from './qemu/spec-check.js';
import {
  grantImageAccess,
  type Label,
  type Owner,
  relabelAfterSnapshot,
  rememberLabel,
  restoreAllLabels,
  restoreLabel,
} from './qemu/dac.js';
import type { OverlaySpec } from './qemu/live-snapshot.js';
import { type IdRange, idsInUse, pickId, systemIds } from './qemu/identity.js';
import { lookupUser } from './qemu/proc.js';
import { QemuVm, savedSpec } from './qemu/vm-process.js';

const log = logger('instances');

export interface InstanceOptions {
  runRoot: string;
  logRoot: string;
  /** Roots suspend images may live under. */
  stateRoots: string[];
  accel: Accel;
  runAs?: string;
  /**
   * Give each VM's QEMU its own uid/gid from this range (qemu/identity.ts) instead of `runAs`'s
   * (main.ts: on when QEMU runs as berth-qemu, the default).
   */
  idRange?: IdRange;
  /**
   * Makes disks that exist only while in use (ExtStorage volumes) ready before QEMU starts, and
   * lets them go when it has ended (storage/ext-assembler.ts). Absent: every disk path is a file
   * or device that is simply there.
   */
  diskAssembler?: DiskAssembler;
}

export interface DiskAssembler {
  /** Makes every disk path of a VM about to start openable (the ones it handles). */
  assemble(paths: readonly string[]): Promise<void>;
  /** Lets them go again once the VM's QEMU has ended; never throws. */
  release(paths: readonly string[]): Promise<void>;
}

/** The unprivileged user QEMU drops to (undefined: QEMU stays root). */
export function qemuOwner(runAs: string | undefined): Owner | undefined {
  const who = runAs ? lookupUser(runAs) : undefined;
  return who && who.uid !== 0 ? who : undefined;
}

/** Files a spec names must exist before QEMU is asked to open them. */
function checkFiles(spec: InstanceSpec): void {
  for (const f of [spec.kernel, spec.initrd, ...spec.disks.map((d) => d.path)]) {
    if (f && !existsSync(f)) throw new XenApiError('INVALID_VALUE', ['path', `${f} does not exist`]);
  }
}

export class InstanceManager extends EventEmitter {
  private readonly vms = new Map<string, QemuVm>();
  /** The tail of each VM's operation queue: operations on one VM never overlap. */
  private readonly queues = new Map<string, Promise<unknown>>();
  /** uuids the agent is suspending: their exit is a suspension, not a shutdown. */
  private readonly suspending = new Set<string>();
  /** uuids whose QEMU ends because the VM migrated away: no event (it runs on elsewhere). */
  private readonly migratedOut = new Set<string>();
  /** VMs found dead when the agent started (re-sent to every new watcher). */
  readonly lostAtStart: InstanceEvent[] = [];

  constructor(readonly opts: InstanceOptions) {
    super();
  }

  private emitEvent(e: InstanceEvent) {
    this.emit('event', e);
  }

  /** Runs `fn` after every earlier operation on `uuid` has settled. */
  private serial<T>(uuid: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(uuid) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.queues.set(uuid, tail);
    void tail.then(() => {
      if (this.queues.get(uuid) === tail) this.queues.delete(uuid);
    });
    return next;
  }

  private track(vm: QemuVm) {
    const uuid = vm.spec.uuid;
    this.vms.set(uuid, vm);
    vm.on('state', (state: InstanceState, reason?: string) => {
      if (state === 'shutdown' || state === 'crashed') {
        if (this.vms.get(uuid) === vm) this.vms.delete(uuid);
        this.releaseDisks(
          uuid,
          vm.spec.disks.map((d) => d.path),
        );
        // Ended after migrating away, or an incoming migration's QEMU that failed: no VM was lost.
        if (this.migratedOut.delete(uuid) || vm.migrating === 'in') return;
        if (this.suspending.delete(uuid)) this.emitEvent({ uuid, state: 'suspended', reason: 'suspended' });
        else this.emitEvent({ uuid, state, reason });
      } else {
        this.emitEvent({ uuid, state, reason });
      }
    });
    vm.on('reset', (why: string) => this.emitEvent({ uuid, state: 'running', reason: why }));
  }

  /** Re-adopts every QEMU under the runtime root; cleans up after those that died meanwhile. */
  async adoptAll(): Promise<{ adopted: string[]; gone: string[] }> {
    const adopted: string[] = [];
    const gone: string[] = [];
    if (!existsSync(this.opts.runRoot)) return { adopted, gone };
    for (const name of readdirSync(this.opts.runRoot)) {
      if (!UUID_RE.test(name)) continue;
      const paths = runtimePaths(this.opts.runRoot, this.opts.logRoot, name);
      const spec = savedSpec(paths);
      const vm = spec && spec.uuid === name ? new QemuVm(spec, paths) : undefined;
      if (vm && (await vm.adopt())) {
        this.track(vm);
        adopted.push(name);
      } else {
        restoreAllLabels(paths.dir);
        rmSync(paths.dir, { recursive: true, force: true });
        gone.push(name);
        const e: InstanceEvent = { uuid: name, state: 'crashed', reason: 'qemu-died-while-agent-was-down' };
        this.lostAtStart.push(e);
        this.emitEvent(e);
      }
    }
    if (adopted.length || gone.length) log.info('adopted running VMs', { adopted, gone });
    return { adopted, gone };
  }

  private get(uuid: string): QemuVm {
    const vm = typeof uuid === 'string' ? this.vms.get(uuid) : undefined;
    if (!vm) throw new XenApiError('VM_BAD_POWER_STATE', [String(uuid), 'running', 'halted']);
    return vm;
  }

  start(spec: InstanceSpec, incomingState?: string): Promise<InstanceInfo> {
    return this.launch(spec, incomingState, false);
  }

  /**
   * Starts QEMU for `spec` waiting for an incoming live migration (`-incoming defer`): the VM is
   * 'paused' (reason 'migrating-in') until migration/ finishes it.
   */
  startIncoming(spec: InstanceSpec): Promise<InstanceInfo> {
    return this.launch(spec, undefined, true);
  }

  /**
   * Ends the QEMU of a VM that migrated away (or of a failed incoming migration): no event (the
   * VM runs elsewhere), files and labels go as on a stop.
   */
  endMigrated(uuid: string): Promise<void> {
    return this.serial(uuid, async () => {
      const vm = this.vms.get(uuid);
      if (!vm) return;
      this.migratedOut.add(uuid);
      await vm.hardShutdown();
    });
  }

  private launch(spec: InstanceSpec, incomingState: string | undefined, awaitMigration: boolean) {
    checkSpec(spec);
    return this.serial(spec.uuid, async () => {
      const running = this.vms.get(spec.uuid);
      if (running) throw new XenApiError('VM_BAD_POWER_STATE', [spec.uuid, 'halted', running.state]);
      const paths = spec.disks.map((d) => d.path);
      // A release still running from this VM's last QEMU (a clean reboot) must not undo this.
      await this.releasing.get(spec.uuid);
      await this.opts.diskAssembler?.assemble(paths);
      try {
        return await this.launchAssembled(spec, incomingState, awaitMigration);
      } catch (e) {
        await this.opts.diskAssembler?.release(paths);
        throw e;
      }
    });
  }

  private async launchAssembled(
    spec: InstanceSpec,
    incomingState: string | undefined,
    awaitMigration: boolean,
  ): Promise<InstanceInfo> {
    checkFiles(spec);
    const vm = new QemuVm(spec, runtimePaths(this.opts.runRoot, this.opts.logRoot, spec.uuid));
    // Chosen and recorded (in launch, before its first await) with no await in between, so two
    // VMs starting at once never get the same id.
    const identity = this.opts.idRange ? this.pickIdentity(this.opts.idRange) : undefined;
    await vm.launch(
      {
        accel: this.opts.accel,
        runAs: this.opts.runAs,
        identity,
        // An unprivileged QEMU gets its own mount namespace with a private /dev.
        privateDev: Boolean(identity || this.opts.runAs),
      },
      incomingState,
      awaitMigration,
    );
    this.track(vm); // after launch, whose own state change nobody heard: tell it now
    this.emitEvent({
      uuid: spec.uuid,
      state: vm.state,
      reason: awaitMigration ? 'migrating-in' : 'started',
    });
    return vm.info();
  }

  /** Disk releases after a QEMU ended, by VM: a new start of the VM waits for its own. */
  private readonly releasing = new Map<string, Promise<void>>();

  private releaseDisks(uuid: string, paths: string[]) {
    const asm = this.opts.diskAssembler;
    if (!asm) return;
    const p = (this.releasing.get(uuid) ?? Promise.resolve())
      .then(() => asm.release(paths))
      .catch(() => undefined);
    this.releasing.set(uuid, p);
    void p.finally(() => {
      if (this.releasing.get(uuid) === p) this.releasing.delete(uuid);
    });
  }

  /** The lowest id of the range no VM of this agent holds and no system user or group has. */
  private pickIdentity(range: IdRange): Owner {
    const id = pickId(range, idsInUse(this.opts.runRoot), (n) => this.systemIds.has(n));
    return { uid: id, gid: id };
  }

  private readonly systemIds = systemIds();

  shutdown(uuid: string, clean: boolean, timeoutMs: number): Promise<void> {
    return this.serial(uuid, async () => {
      const vm = this.get(uuid);
      if (!clean) return vm.hardShutdown();
      if (!(await vm.cleanShutdown(timeoutMs))) {
        throw new XenApiError('VM_SHUTDOWN_TIMEOUT', [uuid, String(Math.round(timeoutMs / 1000))]);
      }
    });
  }

  /** Hard reboot: reset. Clean reboot: ACPI power-off, then start again from the same spec. */
  async reboot(uuid: string, clean: boolean, timeoutMs: number): Promise<InstanceInfo> {
    const vm = this.get(uuid);
    if (!clean) {
      return this.serial(uuid, async () => {
        await this.get(uuid).reset();
        return this.get(uuid).info();
      });
    }
    await this.shutdown(uuid, true, timeoutMs);
    return this.start({ ...vm.spec, startPaused: false });
  }

  pause(uuid: string) {
    return this.serial(uuid, () => this.get(uuid).pause());
  }

  unpause(uuid: string) {
    return this.serial(uuid, () => this.get(uuid).unpause());
  }

  balloon(uuid: string, bytes: number) {
    if (!Number.isSafeInteger(bytes) || bytes < 16 * 1024 * 1024)
      throw new XenApiError('INVALID_VALUE', ['memory', String(bytes)]);
    return this.serial(uuid, () => this.get(uuid).balloon(bytes));
  }

  /**
   * Ganeti's hotplug_device: hotadd / hotremove a disk or NIC of a running VM, or hotmod a CD
   * drive's medium (`device.path` '' ejects). Removal waits up to `timeoutMs` for the guest.
   */
  async hotplug(
    uuid: string,
    action: HotplugAction,
    devType: HotplugDevType,
    device: DiskSpec | NicSpec,
    timeoutMs: number,
  ): Promise<void> {
    const asm = this.opts.diskAssembler;
    const disk =
      devType === 'disk' && device && typeof device === 'object' ? (device as DiskSpec) : undefined;
    // A hot-added disk that exists only while in use (ExtStorage) is assembled first and let go
    // again if QEMU does not take it; a hot-removed one is let go once QEMU has.
    if (asm && disk && action === 'hotadd' && !disk.cdrom && typeof disk.path === 'string') {
      await asm.assemble([disk.path]);
      try {
        return await this.hotplugNow(uuid, action, devType, device, timeoutMs);
      } catch (e) {
        await asm.release([disk.path]);
        throw e;
      }
    }
    if (asm && disk && action === 'hotremove') {
      const held = this.vms.get(uuid)?.spec.disks.find((d) => d.device === disk.device && !d.cdrom);
      await this.hotplugNow(uuid, action, devType, device, timeoutMs);
      if (held) await asm.release([held.path]);
      return;
    }
    return this.hotplugNow(uuid, action, devType, device, timeoutMs);
  }

  private hotplugNow(
    uuid: string,
    action: HotplugAction,
    devType: HotplugDevType,
    device: DiskSpec | NicSpec,
    timeoutMs: number,
  ): Promise<void> {
    if (devType !== 'disk' && devType !== 'nic')
      throw new XenApiError('INVALID_VALUE', ['dev_type', String(devType)]);
    if (!device || typeof device !== 'object')
      throw new XenApiError('INVALID_VALUE', ['device', String(device)]);
    if (action === 'hotremove') checkDeviceName(`${devType} device`, device.device);
    else if (devType === 'disk') checkDisk(device as DiskSpec);
    else checkNic(device as NicSpec);
    const d = device as DiskSpec;
    if (action === 'hotadd' && devType === 'disk' && !existsSync(d.path))
      throw new XenApiError('INVALID_VALUE', ['path', `${d.path} does not exist`]);
    return this.serial(uuid, async () => {
      const vm = this.get(uuid);
      // QEMU opens these after dropping privileges: label them for its user first
      // (qemu/dac.ts; only directories under the state roots are ever changed).
      const who = vm.identity ?? qemuOwner(this.opts.runAs);
      const label = (path: string, readonly: boolean) =>
        who ? grantImageAccess(path, d.format, readonly, who, this.opts.stateRoots) : undefined;
      switch (action) {
        case 'hotadd': {
          if (devType === 'nic') return vm.addNic(device as NicSpec);
          // addDisk refuses these: nothing to label (and the attached disk's label stays).
          if (d.cdrom || vm.spec.disks.some((x) => x.device === d.device)) return vm.addDisk(d);
          const given = await label(d.path, Boolean(d.readonly));
          // Recorded before QEMU opens it: the owner comes back on unplug or when QEMU ends.
          if (given) rememberLabel(vm.paths.dir, d.device, given);
          try {
            return await vm.addDisk(d);
          } catch (e) {
            if (given) restoreLabel(vm.paths.dir, d.device);
            throw e;
          }
        }
        case 'hotremove':
          return vm.removeDevice(devType, device.device, timeoutMs);
        case 'hotmod':
          if (devType !== 'disk') throw new XenApiError('INVALID_VALUE', ['dev_type', devType]);
          if (d.path && !existsSync(d.path))
            throw new XenApiError('INVALID_VALUE', ['path', `${d.path} does not exist`]);
          if (d.path) await label(d.path, true); // CD media: read-only
          return vm.changeMedia(d.device, d.path ? { path: d.path, format: d.format } : null);
        default:
          throw new XenApiError('INVALID_VALUE', ['action', String(action)]);
      }
    });
  }

  /** CBT on a disk of a running VM (VDI.enable_cbt / disable_cbt while it runs). */
  diskCbt(uuid: string, device: string, op: LiveCbtOp, generation?: string): Promise<string[]> {
    checkDeviceName('disk device', device);
    return this.serial(uuid, () => this.get(uuid).diskCbt(device, op, generation));
  }

  /** The VM's QEMU if it runs here, without queueing (read-only looks: migration status). */
  peek(uuid: string): QemuVm | undefined {
    return this.vms.get(uuid);
  }

  /** Runs `fn` on a running VM, queued with its other operations (the data plane's NBD exports). */
  withVm<T>(uuid: string, fn: (vm: QemuVm) => Promise<T>): Promise<T> {
    return this.serial(uuid, () => fn(this.get(uuid)));
  }

  /** Grows a disk of a running VM to `size` bytes (online VDI.resize). */
  resizeDisk(uuid: string, device: string, size: number): Promise<void> {
    checkDeviceName('disk device', device);
    if (!Number.isSafeInteger(size) || size <= 0)
      throw new XenApiError('INVALID_VALUE', ['size', String(size)]);
    return this.serial(uuid, () => this.get(uuid).resizeDisk(device, size));
  }

  /**
   * Live snapshot of disks of a running or paused VM (instance_snapshot_disks, disk-snapshot.ts):
   * each overlay is labelled for QEMU's user, QEMU moves onto the overlays in one transaction
   * (and saves its state to `memoryPath` for a checkpoint), then each frozen image gets its
   * previous owner back.
   */
  snapshotDisks(
    uuid: string,
    overlays: (OverlaySpec & { leaf: string; frozen: string })[],
    memoryPath?: string,
  ): Promise<{ transactionMs: number; vcpuPauseMs: number }> {
    const state = memoryPath === undefined ? undefined : this.checkStatePath(memoryPath);
    return this.serial(uuid, async () => {
      const vm = this.get(uuid);
      for (const o of overlays) {
        const disk = vm.spec.disks.find((d) => d.device === o.device);
        if (!disk || disk.cdrom || disk.readonly || disk.format !== 'qcow2' || disk.path !== o.leaf)
          throw new XenApiError('INVALID_VALUE', [
            'device',
            `${o.device} is not a writable qcow2 disk at ${o.leaf}`,
          ]);
      }
      const who = vm.identity ?? qemuOwner(this.opts.runAs);
      const given = new Map<string, Label | undefined>();
      if (who)
        for (const o of overlays)
          given.set(o.device, await grantImageAccess(o.path, 'qcow2', false, who, this.opts.stateRoots));
      // The overlay is labelled under its temporary name; it is restored under the leaf's.
      for (const [device, label] of given)
        if (label) given.set(device, { ...label, path: overlays.find((o) => o.device === device)!.leaf });
      const timing = await vm.snapshotDisks(overlays, state);
      for (const o of overlays) relabelAfterSnapshot(vm.paths.dir, o.device, o.frozen, given.get(o.device));
      return timing;
    });
  }

  checkStatePath(path: string): string {
    if (
      typeof path !== 'string' ||
      !path.startsWith('/') ||
      /(^|\/)\.\.(\/|$)/.test(path) ||
      path.includes('\0')
    )
      throw new XenApiError('INVALID_VALUE', ['path', String(path)]);
    if (!this.opts.stateRoots.some((r) => path.startsWith(`${r.replace(/\/+$/, '')}/`)))
      throw new XenApiError('INVALID_VALUE', ['path', `${path} is outside the allowed roots`]);
    return path;
  }

  suspend(uuid: string, path: string): Promise<void> {
    const file = this.checkStatePath(path);
    return this.serial(uuid, async () => {
      const vm = this.get(uuid);
      this.suspending.add(uuid);
      try {
        await vm.saveState(file);
      } catch (e) {
        this.suspending.delete(uuid);
        throw e;
      }
    });
  }

  /** Starts the VM from a suspend image (deleted once the VM runs from it). */
  async resume(spec: InstanceSpec, path: string): Promise<InstanceInfo> {
    const file = this.checkStatePath(path);
    if (!existsSync(file)) throw new XenApiError('VDI_MISSING', ['suspend image', file]);
    const info = await this.start(spec, file);
    rmSync(file, { force: true });
    return info;
  }

  info(uuid: string): InstanceInfo {
    return (
      (typeof uuid === 'string' && this.vms.get(uuid)?.info()) || { uuid: String(uuid), state: 'absent' }
    );
  }

  all(): InstanceInfo[] {
    return [...this.vms.values()].map((v) => v.info());
  }

  /** Stops watching without touching the VMs (agent shutdown: the VMs keep running). */
  detachAll() {
    for (const vm of this.vms.values()) vm.detach();
    this.vms.clear();
  }
}
