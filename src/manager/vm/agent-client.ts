// The manager's view of a host agent (HostAgent) over the shared agent RPC client
// (src/shared/noded/client.ts): procedure calls, pushed instance events, and a reconnect hook
// after which the manager reconciles.
import { networkClient } from '../../shared/host/network.js';
import { AgentClient } from '../../shared/noded/client.js';
import type { DiskSpec, NicSpec } from '../../shared/noded/instance.js';
import type { BlockHotplug } from '../api/vbd.js';
import type { NicHotplug } from '../network/host-network.js';
import type { HostAgent, InstanceEvent } from './host-agent.js';

/** How long an unplug waits for the guest to release the device. */
const UNPLUG_TIMEOUT_MS = Number(process.env.BERTH_UNPLUG_TIMEOUT_MS ?? 30_000);

export class NodedAgentClient extends AgentClient implements HostAgent, BlockHotplug, NicHotplug {
  /** The agent's networking procedures, over the same RPC. */
  readonly network = networkClient((procedure, args) => this.call(procedure, args));

  /** Opens the push channel (reconnecting with backoff for as long as the manager runs). */
  connect() {
    this.watch();
  }

  onEvent(listener: (e: InstanceEvent) => void) {
    this.on('event', listener);
  }

  onReconnect(listener: () => void) {
    this.on('connect', listener);
  }

  // Hot-plug hooks of VBD.plug/unplug/insert/eject and VIF.plug/unplug (agent's hotplug_device).
  async blockAttach(vmUuid: string, disk: DiskSpec) {
    await this.hotplug(vmUuid, 'hotadd', 'disk', disk);
  }
  async blockDetach(vmUuid: string, device: string, _force: boolean) {
    await this.hotplug(vmUuid, 'hotremove', 'disk', { device } as DiskSpec, UNPLUG_TIMEOUT_MS);
  }
  async blockMedia(vmUuid: string, device: string, media: { path: string; format: string } | null) {
    const disk: DiskSpec = {
      device,
      path: media?.path ?? '',
      format: media?.format === 'qcow2' ? 'qcow2' : 'raw',
      readonly: true,
      cdrom: true,
    };
    await this.hotplug(vmUuid, 'hotmod', 'disk', disk);
  }
  async blockResize(vmUuid: string, device: string, size: number) {
    await this.diskResize(vmUuid, device, size);
  }
  async nicAttach(vmUuid: string, nic: NicSpec) {
    await this.hotplug(vmUuid, 'hotadd', 'nic', nic);
  }
  async nicDetach(vmUuid: string, device: string) {
    await this.hotplug(vmUuid, 'hotremove', 'nic', { device } as NicSpec, UNPLUG_TIMEOUT_MS);
  }
}
