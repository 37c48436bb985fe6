// An in-memory host agent for manager tests that need no QEMU: instances are entries in a map.
// `hangStart` makes start() never answer (an operation left in flight for a crash test).
import type { InstanceAgent } from '../../helpers/test-agent.js';
import type { InstanceEvent, InstanceInfo, InstanceSpec } from '../../../src/manager/vm/host-agent.js';

export class FakeAgent implements InstanceAgent {
  readonly connected = true;
  readonly instances = new Map<string, InstanceInfo>();
  private readonly reconnectListeners: (() => void)[] = [];
  constructor(private readonly opts: { hangStart?: boolean } = {}) {}
  async version() {
    return 'fake';
  }
  start(spec: InstanceSpec): Promise<InstanceInfo> {
    if (this.opts.hangStart) return new Promise(() => undefined);
    const info: InstanceInfo = {
      uuid: spec.uuid,
      state: spec.startPaused ? 'paused' : 'running',
      startedAt: Date.now(),
    };
    this.instances.set(spec.uuid, info);
    return Promise.resolve(info);
  }
  async shutdown(uuid: string) {
    this.instances.delete(uuid);
  }
  async reboot() {}
  async pause(uuid: string) {
    this.instances.get(uuid)!.state = 'paused';
  }
  async unpause(uuid: string) {
    this.instances.get(uuid)!.state = 'running';
  }
  async suspend(uuid: string) {
    this.instances.delete(uuid);
  }
  resume(spec: InstanceSpec): Promise<InstanceInfo> {
    return this.start(spec);
  }
  async balloon() {}
  async info(uuid: string): Promise<InstanceInfo> {
    return this.instances.get(uuid) ?? { uuid, state: 'absent' };
  }
  async all(): Promise<InstanceInfo[]> {
    return [...this.instances.values()];
  }
  async callPlugin(): Promise<string> {
    return '';
  }
  onEvent(_listener: (e: InstanceEvent) => void) {}
  onReconnect(listener: () => void) {
    this.reconnectListeners.push(listener);
  }
  /** What a real agent client does after every (re)connection. */
  reconnected() {
    for (const l of this.reconnectListeners) l();
  }
  close() {}
}
