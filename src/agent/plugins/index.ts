// Entry points for host.call_plugin: the agent's RPC procedure `host_call_plugin` calls
// callPlugin; listPlugins reports what is available. One host per process, configured from
// the environment (BERTH_PLUGIN_DIR, BERTH_PLUGIN_TIMEOUT_MS) on first use.
import { PluginHost, type PluginInfo } from './host.js';

export { PluginHost, defaultConfig, type PluginHostOptions, type PluginInfo } from './host.js';

let host: PluginHost | undefined;
const defaultHost = () => {
  host ??= new PluginHost();
  return host;
};

/**
 * Calls `fn` of `plugin` (with or without `.py`). Resolves with the plugin's string result;
 * rejects with XenApiError XENAPI_MISSING_PLUGIN [plugin], UNKNOWN_XENAPI_PLUGIN_FUNCTION [fn]
 * or XENAPI_PLUGIN_FAILURE [code, message, details].
 */
export function callPlugin(plugin: string, fn: string, args: Record<string, string>): Promise<string> {
  return defaultHost().call(plugin, fn, args);
}

export function listPlugins(): Promise<PluginInfo[]> {
  return defaultHost().list();
}
