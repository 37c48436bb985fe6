// The session roots of agent-fed plugins: one per (host, plugin), named `host/<host uuid>/<plugin>`
// (e.g. `host/0c5…/linux`). The root record is the linux plugin's PluginAgentResources(host_id,
// plugin_name), as IML's; host_id is an integer there (IML's host primary key), so Berth derives a
// stable one from the host's uuid: its first 48 bits (a safe integer; no second table to keep).

const PREFIX = 'host/';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const PLUGIN = /^[A-Za-z0-9._:-]{1,128}$/;

export function agentRoot(hostUuid: string, plugin: string): string {
  return `${PREFIX}${hostUuid}/${plugin}`;
}

/** The host and plugin of an agent-fed root; null for any other root. */
export function parseAgentRoot(root: string): { hostUuid: string; plugin: string } | null {
  if (!root.startsWith(PREFIX)) return null;
  const [hostUuid, plugin, ...rest] = root.slice(PREFIX.length).split('/');
  if (rest.length > 0 || !UUID.test(hostUuid ?? '') || !PLUGIN.test(plugin ?? '')) return null;
  return { hostUuid, plugin };
}

/** The integer host_id of a host's agent-fed resources (PluginAgentResources, DeviceNode). */
export function hostIdOf(hostUuid: string): number {
  return Number.parseInt(hostUuid.replace(/-/g, '').slice(0, 12), 16);
}
