// The other_config keys xapi documents for VIFs and PIFs ("Advanced settings for network
// interfaces"): every `ethtool-*` key, `promiscuous` and `mtu`. A pure planner turns them into
// commands; the thin part runs them and reports, per key, what could not be applied (a device
// that does not support a setting is reported, never fatal).
import type { SettingsReport } from '../../shared/host/network.js';
import { parseMtu } from '../../shared/net/mtu.js';
import { inNs, ip, type NetOptions } from './ip.js';

/** `on`/`true` → true, `off`/`false` → false, anything else → undefined. */
export function parseSwitch(v: string | undefined): boolean | undefined {
  const s = v?.trim().toLowerCase();
  if (s === 'on' || s === 'true') return true;
  if (s === 'off' || s === 'false') return false;
  return undefined;
}

/** ethtool-<key> → the ethtool -K feature name (offloads). */
const OFFLOAD_FEATURES: Record<string, string> = {
  rx: 'rx',
  tx: 'tx',
  sg: 'sg',
  tso: 'tso',
  ufo: 'ufo',
  gso: 'gso',
  gro: 'gro',
  lro: 'lro',
};

export interface SettingsPlan {
  /** One command per key, so a failure is attributed to the key that caused it. */
  steps: { key: string; cmd: 'ethtool' | 'ip'; args: string[] }[];
  /** Keys whose value is invalid (not run). */
  invalid: Record<string, string>;
  mtu?: number;
}

/** Plans the settings of other_config for device `dev` (pure). */
export function planSettings(dev: string, other: Record<string, string>): SettingsPlan {
  const plan: SettingsPlan = { steps: [], invalid: {} };
  const link: string[] = [];
  for (const [key, value] of Object.entries(other)) {
    if (key === 'mtu') {
      try {
        plan.mtu = parseMtu(value);
      } catch (e) {
        plan.invalid[key] = (e as Error).message;
      }
      continue;
    }
    if (key === 'promiscuous') {
      const on = parseSwitch(value);
      if (on === undefined) plan.invalid[key] = `expected on/true/off/false, got ${JSON.stringify(value)}`;
      else
        plan.steps.push({ key, cmd: 'ip', args: ['link', 'set', 'dev', dev, 'promisc', on ? 'on' : 'off'] });
      continue;
    }
    if (!key.startsWith('ethtool-')) continue;
    const opt = key.slice('ethtool-'.length);
    if (opt === 'speed') {
      if (!/^\d+$/.test(value.trim())) plan.invalid[key] = `expected Mb/s (10, 100, 1000, …), got ${value}`;
      else link.push(key, 'speed', value.trim());
    } else if (opt === 'duplex') {
      const d = value.trim().toLowerCase();
      if (d !== 'half' && d !== 'full') plan.invalid[key] = `expected half or full, got ${value}`;
      else link.push(key, 'duplex', d);
    } else if (opt === 'autoneg') {
      const on = parseSwitch(value);
      if (on === undefined) plan.invalid[key] = `expected on/true/off/false, got ${value}`;
      else link.push(key, 'autoneg', on ? 'on' : 'off');
    } else {
      const on = parseSwitch(value);
      const feature = OFFLOAD_FEATURES[opt] ?? (/^[a-z0-9-]{1,40}$/.test(opt) ? opt : undefined);
      if (!feature) plan.invalid[key] = 'unknown ethtool option';
      else if (on === undefined) plan.invalid[key] = `expected on/true/off/false, got ${value}`;
      else plan.steps.push({ key, cmd: 'ethtool', args: ['-K', dev, feature, on ? 'on' : 'off'] });
    }
  }
  // Link settings (speed/duplex/autoneg) go in one `ethtool -s` per key for attribution.
  for (let i = 0; i < link.length; i += 3) {
    plan.steps.push({ key: link[i], cmd: 'ethtool', args: ['-s', dev, link[i + 1], link[i + 2]] });
  }
  return plan;
}

/** Applies other_config settings to `dev`; never throws for an unsupported setting. */
export async function applySettings(
  dev: string,
  other: Record<string, string>,
  opts: NetOptions = {},
): Promise<SettingsReport> {
  const plan = planSettings(dev, other);
  const report: SettingsReport = { applied: [], failed: { ...plan.invalid } };
  if (plan.mtu !== undefined) {
    try {
      await ip(['link', 'set', 'dev', dev, 'mtu', String(plan.mtu)], opts);
      report.applied.push('mtu');
    } catch (e) {
      report.failed.mtu = (e as Error).message;
    }
  }
  for (const s of plan.steps) {
    const r =
      s.cmd === 'ip'
        ? await inNs('ip', s.args, opts)
        : await inNs('ethtool', s.args, opts).catch((e: Error) => ({
            code: 127,
            stdout: '',
            stderr: e.message,
          }));
    if (r.code === 0) report.applied.push(s.key);
    else report.failed[s.key] = (r.stderr.trim() || r.stdout.trim() || `exit ${r.code}`).split('\n')[0];
  }
  return report;
}
