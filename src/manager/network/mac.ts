// MAC addresses for VIFs (pure): validation and normalisation of given ones, and generation of
// locally administered unicast addresses from the VM's mac_seed and the device number (stable for
// a VM, like xapi), avoiding every MAC already in the pool.
import { createHash } from 'node:crypto';

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** Lower-case colon form, or undefined if `s` is not a MAC (also accepts `-` separators). */
export function normaliseMac(s: string): string | undefined {
  const t = s.trim().replace(/-/g, ':').toLowerCase();
  return MAC_RE.test(t) ? t : undefined;
}

/** A MAC a VIF may use: well-formed, unicast, not all zeros. */
export function usableMac(s: string): string | undefined {
  const m = normaliseMac(s);
  if (!m || m === '00:00:00:00:00:00') return undefined;
  if (Number.parseInt(m.slice(0, 2), 16) & 1) return undefined; // multicast/broadcast
  return m;
}

/** Generates a locally administered unicast MAC unique among `taken` (lower-case forms). */
export function generateMac(seed: string, device: string, taken: ReadonlySet<string>): string {
  for (let attempt = 0; ; attempt++) {
    const h = createHash('sha256').update(`${seed}/${device}/${attempt}`).digest();
    h[0] = (h[0] & 0xfc) | 0x02; // locally administered, unicast
    const mac = [...h.subarray(0, 6)].map((b) => b.toString(16).padStart(2, '0')).join(':');
    if (!taken.has(mac)) return mac;
  }
}
