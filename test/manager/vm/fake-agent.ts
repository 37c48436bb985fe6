// An in-memory host agent for manager tests that need no QEMU: instances are entries in a map.
// `hangStart` makes start() never answer (an operation left in flight for a crash test).
import { networkClient } from '../../../src/shared/host/network.js';
import type { InstanceEvent, InstanceInfo, InstanceSpec } from '../../../src/manager/vm/host-agent.js';
import type { InstanceAgent } from '../../helpers/test-agent.js';

export class FakeAgent implements InstanceAgent {
  readonly connected = true;
  readonly instances = new Map<string, InstanceInfo>();
  private readonly reconnectListeners: (() => void)[] = [];
  /** No host networking here (these tests run with networking off). */
  readonly network = networkClient(async (p) => {
    throw new Error(`${p}: the fake agent has no networking`);
  });
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
  private readonly eventListeners: ((e: InstanceEvent) => void)[] = [];
  onEvent(listener: (e: InstanceEvent) => void) {
    this.eventListeners.push(listener);
  }
  /** What a real agent client does when the agent pushes an event. */
  emit(e: InstanceEvent) {
    for (const l of this.eventListeners) l(e);
  }
  onReconnect(listener: () => void) {
    this.reconnectListeners.push(listener);
  }
  /** What a real agent client does after every (re)connection. */
  reconnected() {
    for (const l of this.reconnectListeners) l();
  }
  close() {}
}
