// The host agent: its procedure table (Ganeti's names where they overlap) over the instance
// manager, host plugins and host facts, and the push of instance events to the manager.
import { readHostFacts } from '../shared/host-facts.js';
import { logger } from '../shared/log.js';
import type { InstanceSpec } from '../shared/noded/instance.js';
import { BERTH_VERSION } from '../shared/version.js';
import { InstanceManager, type InstanceOptions } from './instances.js';
import { callPlugin, listPlugins } from './plugins/index.js';
import { AgentServer, type Procedure } from './server.js';

const log = logger('agent');

/** Version of the agent RPC protocol (bumped on incompatible changes). */
export const PROTOCOL_VERSION = 1;

export function procedures(vms: InstanceManager): Record<string, Procedure> {
  return {
    version: () => ({ protocol: PROTOCOL_VERSION, berth: BERTH_VERSION, accel: vms.opts.accel }),
    node_info: () => {
      const f = readHostFacts();
      return {
        hostname: f.hostname,
        address: f.address,
        memory_total: f.memoryTotal,
        memory_free: f.memoryFree,
        cpu_count: f.cpus.length,
        cpus: f.cpus,
        kernel: f.kernel,
        accel: vms.opts.accel,
      };
    },
    instance_start: (spec: InstanceSpec) => vms.start(spec),
    instance_shutdown: (uuid: string, clean: boolean, timeoutMs: number) =>
      vms.shutdown(uuid, clean !== false, Number(timeoutMs) || 120_000),
    instance_reboot: (uuid: string, clean: boolean, timeoutMs: number) =>
      vms.reboot(uuid, clean !== false, Number(timeoutMs) || 120_000),
    instance_pause: (uuid: string) => vms.pause(uuid),
    instance_unpause: (uuid: string) => vms.unpause(uuid),
    instance_suspend: (uuid: string, path: string) => vms.suspend(uuid, path),
    instance_resume: (spec: InstanceSpec, path: string) => vms.resume(spec, path),
    instance_balloon_memory: (uuid: string, bytes: number) => vms.balloon(uuid, Number(bytes)),
    instance_info: (uuid: string) => vms.info(uuid),
    instance_list: () => vms.all().map((i) => i.uuid),
    all_instances_info: () => vms.all(),
    instance_console: (uuid: string) => {
      const i = vms.info(uuid);
      return { vnc: i.vncSocket, serial: i.serialSocket, log: i.consoleLog };
    },
    host_call_plugin: (plugin: string, fn: string, args: Record<string, string>) =>
      callPlugin(plugin, fn, args ?? {}),
    host_list_plugins: () => listPlugins(),
  };
}

export interface AgentOptions extends InstanceOptions {
  socketPath: string;
}

export async function startAgent(
  opts: AgentOptions,
): Promise<{ server: AgentServer; vms: InstanceManager; close(): Promise<void> }> {
  const vms = new InstanceManager(opts);
  const server = new AgentServer(procedures(vms));
  vms.on('event', (e) => server.push(e));
  // Adopt before serving, so the manager's first all_instances_info already sees every VM.
  const { adopted, gone } = await vms.adoptAll();
  await server.listen(opts.socketPath);
  log.info('agent ready', {
    socket: opts.socketPath,
    accel: opts.accel,
    adopted: adopted.length,
    gone: gone.length,
  });
  return {
    server,
    vms,
    close: async () => {
      vms.detachAll();
      await server.close();
    },
  };
}
