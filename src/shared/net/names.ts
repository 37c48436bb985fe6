// Interface names: what the kernel accepts, and the names Berth derives for the objects it
// creates (pure functions, used by the manager and the agent).
import { createHash } from 'node:crypto';

/** IFNAMSIZ is 16 with the terminating NUL. */
export const MAX_IFNAME = 15;

/** A name the kernel accepts and that is safe everywhere (no '/', ':', whitespace, '..'). */
export function validIfName(name: unknown): name is string {
  return (
    typeof name === 'string' &&
    name.length > 0 &&
    name.length <= MAX_IFNAME &&
    /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name) &&
    name !== '.' &&
    name !== '..'
  );
}

export function assertIfName(name: unknown, what = 'interface'): string {
  if (!validIfName(name)) throw new Error(`invalid ${what} name: ${JSON.stringify(name)}`);
  return name;
}

/**
 * The TAP device of a VIF: `vif` + the first 12 hex digits of its uuid (15 characters). Stable
 * across boots and known before the VM has a domid, so the manager can put it in the start spec.
 */
export function tapName(vifUuid: string): string {
  const hex = vifUuid.toLowerCase().replace(/[^0-9a-f]/g, '');
  if (hex.length < 12) throw new Error(`not a uuid: ${vifUuid}`);
  return `vif${hex.slice(0, 12)}`;
}

/** `eth0.100` when it fits in 15 characters, else a stable hashed name. */
export function vlanDeviceName(device: string, tag: number): string {
  const plain = `${device}.${tag}`;
  if (plain.length <= MAX_IFNAME) return plain;
  return `vl${shortHash(plain, 8)}.${tag}`;
}

/** Bond master device names: `bond0`, `bond1`… (first unused). */
export function nextFreeName(prefix: string, used: Iterable<string>): string {
  const taken = new Set(used);
  for (let i = 0; ; i++) if (!taken.has(`${prefix}${i}`)) return `${prefix}${i}`;
}

function shortHash(s: string, n: number): string {
  return createHash('sha256').update(s).digest('hex').slice(0, n);
}
