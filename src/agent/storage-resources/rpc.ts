// The device plugin procedures as the agent serves them (src/shared/host/device-plugins.ts). The
// RPC is a trust boundary: arguments are checked here (INVALID_VALUE [name, value] otherwise).
import { XenApiError } from '../../shared/errors.js';
import type { DevicePluginProcedureName } from '../../shared/host/device-plugins.js';
import type { Procedure } from '../server.js';
import type { DevicePluginRunner } from './runner.js';

const bad = (name: string, v: unknown) =>
  new XenApiError('INVALID_VALUE', [name, (JSON.stringify(v) ?? 'undefined').slice(0, 200)]);

/** Plugin names and session ids: short printable tokens. */
const TOKEN = /^[A-Za-z0-9._:-]{1,128}$/;

const tokenArg = (name: string, v: unknown): string => {
  if (typeof v !== 'string' || !TOKEN.test(v)) throw bad(name, v);
  return v;
};

export function devicePluginProcedures(
  runner: DevicePluginRunner,
): Record<DevicePluginProcedureName, Procedure> {
  return {
    device_plugin_take: () => runner.take(),
    device_plugin_session_create: (plugin: unknown, sessionId: unknown) =>
      runner.sessionCreate(tokenArg('plugin', plugin), tokenArg('session_id', sessionId)),
    device_plugin_session_terminate: (plugin: unknown, sessionId: unknown) =>
      runner.sessionTerminate(
        tokenArg('plugin', plugin),
        sessionId === null || sessionId === undefined ? null : tokenArg('session_id', sessionId),
      ),
    device_plugin_list: () => runner.list(),
    device_plugin_run: (plugin: unknown) => runner.run(tokenArg('plugin', plugin)),
  };
}
