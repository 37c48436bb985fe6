// The agent's VMs: one QemuVm per running instance, keyed by uuid. Starts, stops and adopts
// QEMU processes, and turns their state changes into instance events for the manager.
import { EventEmitter } from 'node:events';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { XenApiError } from '../shared/errors.js';
import { logger } from '../shared/log.js';
import type { InstanceEvent, InstanceInfo, InstanceSpec, InstanceState } from '../shared/noded/instance.js';
import type { Accel } from './qemu/command-line.js';
import { runtimePaths } from './qemu/command-line.js';
import { QemuVm, savedSpec } from './qemu/vm-process.js';

const log = logger('instances');

export interface InstanceOptions {
  runRoot: string;
  logRoot: string;
  /** Roots suspend images may live under. */
  stateRoots: string[];
  accel: Accel;
  runAs?: string;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function checkSpec(spec: InstanceSpec): void {
  if (!spec || typeof spec !== 'object') throw new XenApiError('INVALID_VALUE', ['spec', 'not an object']);
  if (!UUID_RE.test(String(spec.uuid))) throw new XenApiError('INVALID_VALUE', ['uuid', String(spec.uuid)]);
  if (!Number.isInteger(spec.vcpus) || spec.vcpus < 1 || spec.vcpus > 64)
    throw new XenApiError('INVALID_VALUE', ['vcpus', String(spec.vcpus)]);
  if (!Number.isFinite(spec.memoryBytes) || spec.memoryBytes < 16 * 1024 * 1024) {
    throw new XenApiError('INVALID_VALUE', ['memory', String(spec.memoryBytes)]);
  }
  for (const f of [spec.kernel, spec.initrd, ...spec.disks.map((d) => d.path)]) {
    if (f && !f.startsWith('/')) throw new XenApiError('INVALID_VALUE', ['path', f]);
    if (f && !existsSync(f)) throw new XenApiError('INVALID_VALUE', ['path', `${f} does not exist`]);
  }
}

export class InstanceManager extends EventEmitter {
  private readonly vms = new Map<string, QemuVm>();
  /** uuids the agent is suspending: their exit is a suspension, not a shutdown. */
  private readonly suspending = new Set<string>();

  constructor(readonly opts: InstanceOptions) {
    super();
  }

  private emitEvent(e: InstanceEvent) {
    this.emit('event', e);
  }

  private track(vm: QemuVm) {
    const uuid = vm.spec.uuid;
    this.vms.set(uuid, vm);
    vm.on('state', (state: InstanceState, reason?: string) => {
      if (state === 'shutdown') {
        this.vms.delete(uuid);
        const suspended = this.suspending.delete(uuid);
        this.emitEvent({
          uuid,
          state: suspended ? 'suspended' : 'shutdown',
          reason: reason === 'qemu-exited' ? 'guest-poweroff-or-exit' : reason,
        });
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
      const spec = savedSpec(paths.dir);
      const vm = spec && new QemuVm(spec, paths);
      if (vm && (await vm.adopt())) {
        this.track(vm);
        adopted.push(name);
      } else {
        rmSync(paths.dir, { recursive: true, force: true });
        gone.push(name);
        this.emitEvent({ uuid: name, state: 'absent', reason: 'qemu-died-while-agent-was-down' });
      }
    }
    if (adopted.length || gone.length)
      log.info('adopted running VMs', { adopted: adopted.length, gone: gone.length });
    return { adopted, gone };
  }

  private get(uuid: string): QemuVm {
    const vm = this.vms.get(uuid);
    if (!vm) throw new XenApiError('VM_BAD_POWER_STATE', [uuid, 'running', 'halted']);
    return vm;
  }

  async start(spec: InstanceSpec, incomingState?: string): Promise<InstanceInfo> {
    checkSpec(spec);
    if (this.vms.has(spec.uuid))
      throw new XenApiError('VM_BAD_POWER_STATE', [spec.uuid, 'halted', this.vms.get(spec.uuid)!.state]);
    const vm = new QemuVm(spec, runtimePaths(this.opts.runRoot, this.opts.logRoot, spec.uuid));
    await vm.launch({
      accel: this.opts.accel,
      runAs: this.opts.runAs,
      incoming: incomingState !== undefined,
    });
    this.track(vm);
    if (incomingState !== undefined) {
      try {
        await vm.loadState(incomingState, spec.startPaused);
      } catch (e) {
        await vm.hardShutdown();
        throw e;
      }
    }
    return vm.info();
  }

  async shutdown(uuid: string, clean: boolean, timeoutMs: number): Promise<void> {
    const vm = this.get(uuid);
    if (!clean) return vm.hardShutdown();
    if (!(await vm.cleanShutdown(timeoutMs))) {
      throw new XenApiError('VM_SHUTDOWN_TIMEOUT', [uuid, String(Math.round(timeoutMs / 1000))]);
    }
  }

  /** Hard reboot: reset. Clean reboot: ACPI power-off, then start again from the same spec. */
  async reboot(uuid: string, clean: boolean, timeoutMs: number): Promise<InstanceInfo> {
    const vm = this.get(uuid);
    if (!clean) {
      await vm.reset();
      return vm.info();
    }
    const spec = { ...vm.spec, startPaused: false };
    await this.shutdown(uuid, true, timeoutMs);
    return this.start(spec);
  }

  pause(uuid: string) {
    return this.get(uuid).pause();
  }

  unpause(uuid: string) {
    return this.get(uuid).unpause();
  }

  balloon(uuid: string, bytes: number) {
    return this.get(uuid).balloon(bytes);
  }

  checkStatePath(path: string): string {
    if (typeof path !== 'string' || !path.startsWith('/') || path.includes('/../') || path.includes('\0')) {
      throw new XenApiError('INVALID_VALUE', ['path', String(path)]);
    }
    if (!this.opts.stateRoots.some((r) => path.startsWith(`${r}/`)))
      throw new XenApiError('INVALID_VALUE', ['path', `${path} is outside the allowed roots`]);
    return path;
  }

  async suspend(uuid: string, path: string): Promise<void> {
    const vm = this.get(uuid);
    this.suspending.add(uuid);
    try {
      await vm.saveState(this.checkStatePath(path));
    } catch (e) {
      this.suspending.delete(uuid);
      throw e;
    }
  }

  async resume(spec: InstanceSpec, path: string): Promise<InstanceInfo> {
    const file = this.checkStatePath(path);
    if (!existsSync(file)) throw new XenApiError('VDI_MISSING', ['suspend image', file]);
    const info = await this.start(spec, file);
    rmSync(file, { force: true });
    return info;
  }

  info(uuid: string): InstanceInfo {
    return this.vms.get(uuid)?.info() ?? { uuid, state: 'absent' };
  }

  all(): InstanceInfo[] {
    return [...this.vms.values()].map((v) => v.info());
  }

  /** Stops tracking without touching the VMs (agent shutdown: the VMs keep running). */
  detachAll() {
    for (const vm of this.vms.values()) vm.detach();
  }
}
