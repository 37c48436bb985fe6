// IPv4 addresses and netmasks (pure): the manager checks PIF.reconfigure_ip's input, the agent
// what it applies.

export function isIPv4(s: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  return Boolean(m?.slice(1).every((o) => Number(o) <= 255 && String(Number(o)) === o));
}

/** Dotted netmask → prefix length (pure); undefined if not a contiguous mask. */
export function netmaskToPrefix(mask: string): number | undefined {
  if (!isIPv4(mask)) return undefined;
  const bits = mask
    .split('.')
    .map((o) => Number(o).toString(2).padStart(8, '0'))
    .join('');
  return /^1*0*$/.test(bits) ? (bits.indexOf('0') === -1 ? 32 : bits.indexOf('0')) : undefined;
}
