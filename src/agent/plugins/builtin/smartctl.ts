// smartctl.py: information and health of the host's disks through smartctl's JSON output
// (smartmontools >= 7). Devices come from `smartctl --scan`. Results are keyed "<name>:<type>"
// (`/dev/sda:sat`, `/dev/bus/0:megaraid,1`) as XCP-ng's current plugin does: the device plus
// the -d type it was queried with, so disks sharing one name behind a controller stay apart.
import { command } from '../command.js';
import { definePlugin, type PluginContext } from '../types.js';

export interface ScannedDevice {
  name: string;
  type: string;
}

/** `smartctl --scan` lines ("/dev/sda -d sat # /dev/sda [SAT], ATA device") -> devices. */
export function parseScan(stdout: string): ScannedDevice[] {
  const out: ScannedDevice[] = [];
  for (const line of stdout.split('\n')) {
    const tok = line.trim().split(/\s+/);
    if (tok.length < 3 || tok[0] === '' || tok[1] !== '-d') continue;
    out.push({ name: tok[0], type: tok[2] });
  }
  return out;
}

/** smartctl -j output -> its JSON; smartctl's exit code is a bit mask, so output decides. */
export function parseSmartJson(stdout: string, device: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(stdout);
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* fall through */
  }
  throw new Error(`smartctl gave no JSON for ${device}`);
}

/** smart_status.passed -> "PASSED"/"FAILED"; a report without it is an error (upstream KeyError). */
export function healthOf(report: Record<string, unknown>): 'PASSED' | 'FAILED' {
  const status = report.smart_status as { passed?: unknown } | undefined;
  if (!status || !('passed' in status)) throw new Error("'smart_status'");
  return status.passed ? 'PASSED' : 'FAILED';
}

/** The result key of each scanned device: its name and the -d type it was queried with. */
export function deviceKeys(devices: ScannedDevice[]): string[] {
  return devices.map((d) => `${d.name}:${d.type}`);
}

async function scan(ctx: PluginContext) {
  return parseScan((await command(ctx, ['smartctl', '--scan'])).stdout);
}

async function report(ctx: PluginContext, what: '-a' | '-H', dev: ScannedDevice) {
  const r = await command(ctx, ['smartctl', '-j', what, '-d', dev.type, dev.name], { check: false });
  return parseSmartJson(r.stdout, dev.name);
}

export const smartctl = definePlugin('smartctl', {
  information(_args, ctx) {
    return ctx.locks.busy('smartctl').with(async () => {
      const out: Record<string, unknown> = {};
      const devices = await scan(ctx);
      const keys = deviceKeys(devices);
      for (const [i, dev] of devices.entries()) out[keys[i]] = await report(ctx, '-a', dev);
      return JSON.stringify(out);
    });
  },
  health(_args, ctx) {
    return ctx.locks.busy('smartctl').with(async () => {
      const out: Record<string, string> = {};
      const devices = await scan(ctx);
      const keys = deviceKeys(devices);
      for (const [i, dev] of devices.entries()) out[keys[i]] = healthOf(await report(ctx, '-H', dev));
      return JSON.stringify(out);
    });
  },
});
