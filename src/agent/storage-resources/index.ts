// The agent's device plugins as agent.ts starts them: the built-in `linux` one by default.
import type { DevicePlugin } from './device-plugin.js';
import { hostIo, type RecordedOutputs, recordedIo } from './gather-io.js';
import { type DpuConfig, linuxDevicePlugin } from './linux-plugin.js';
import { DevicePluginRunner } from './runner.js';
import type { SessionTimings } from './session.js';

export interface DevicePluginOptions {
  /** The plugins to run (default: the built-in `linux` one). */
  plugins?: DevicePlugin[];
  /** Hidden (tests, demonstrations): recorded outputs the built-in plugins read instead of the host's. */
  recorded?: RecordedOutputs;
  /** Hidden: a Kalray DPU the linux plugin reports (through the kalray_dpu host plugin). */
  kalrayDpu?: DpuConfig;
  timings?: Partial<SessionTimings>;
  tickMs?: number;
}

/** The runner of the configured plugins; `false`: none (the procedures answer, nothing is queued). */
export function startDevicePlugins(opts: DevicePluginOptions | false | undefined): DevicePluginRunner {
  if (opts === false) return new DevicePluginRunner({ plugins: [] });
  const io = opts?.recorded ? recordedIo(opts.recorded, hostIo) : hostIo;
  return new DevicePluginRunner({
    plugins: opts?.plugins ?? [linuxDevicePlugin(io, { dpu: opts?.kalrayDpu })],
    timings: opts?.timings,
    tickMs: opts?.tickMs,
  });
}
