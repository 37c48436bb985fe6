// `berth host bond` options (oVirtCmd's `-o name value` Linux bonding options) → Bond.create's
// mode and properties. XenAPI knows three modes (balance-slb, active-backup, lacp) and the
// properties hashing_algorithm, lacp-time, miimon, updelay, downdelay; Linux names and mode
// numbers are translated, anything XenAPI cannot express is refused with the reason.
import { usageError } from '../errors.js';

export interface BondRequest {
  mode: 'balance-slb' | 'active-backup' | 'lacp';
  properties: Record<string, string>;
}

/** Linux bonding modes (number or name) and XenAPI's own names → XenAPI's mode. */
const MODES: Record<string, BondRequest['mode']> = {
  '1': 'active-backup',
  'active-backup': 'active-backup',
  '4': 'lacp',
  '802.3ad': 'lacp',
  lacp: 'lacp',
  '6': 'balance-slb',
  'balance-alb': 'balance-slb',
  'balance-slb': 'balance-slb',
};

/** Linux xmit_hash_policy → XenAPI's hashing_algorithm. */
const HASHES: Record<string, string> = {
  layer2: 'src_mac',
  src_mac: 'src_mac',
  'layer3+4': 'tcpudp_ports',
  tcpudp_ports: 'tcpudp_ports',
};

const MS_KEYS = new Set(['miimon', 'updelay', 'downdelay']);

/** Checks and translates `-o` pairs; the default mode is XenAPI's (balance-slb). */
export function bondRequest(options: Record<string, string> = {}): BondRequest {
  const out: BondRequest = { mode: 'balance-slb', properties: {} };
  for (const [key, value] of Object.entries(options)) {
    if (key === 'mode') {
      const mode = MODES[value];
      if (!mode)
        throw usageError(
          `bond mode '${value}' has no XenAPI equivalent (use 1/active-backup, 4/802.3ad/lacp or 6/balance-alb/balance-slb)`,
        );
      out.mode = mode;
    } else if (key === 'xmit_hash_policy' || key === 'hashing_algorithm') {
      const hash = HASHES[value];
      if (!hash)
        throw usageError(
          `${key} '${value}' has no XenAPI equivalent (layer2 → src_mac, layer3+4 → tcpudp_ports)`,
        );
      out.properties.hashing_algorithm = hash;
    } else if (key === 'lacp_rate' || key === 'lacp-time') {
      const rate = { '0': 'slow', '1': 'fast', slow: 'slow', fast: 'fast' }[value];
      if (!rate) throw usageError(`${key} '${value}' must be slow or fast`);
      out.properties['lacp-time'] = rate;
    } else if (MS_KEYS.has(key)) {
      if (!/^\d{1,6}$/.test(value)) throw usageError(`bond option ${key} takes milliseconds, not '${value}'`);
      out.properties[key] = value;
    } else {
      throw usageError(
        `unknown bond option '${key}' (mode, xmit_hash_policy, lacp_rate, miimon, updelay, downdelay)`,
      );
    }
  }
  if (out.mode !== 'lacp' && (out.properties.hashing_algorithm || out.properties['lacp-time']))
    throw usageError('xmit_hash_policy and lacp_rate apply to mode 4 (802.3ad/lacp) only');
  return out;
}
