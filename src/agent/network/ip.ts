// The thin layer that touches the kernel: `ip`, `ethtool` and friends as argument arrays, each
// optionally inside a network namespace (tests run every kernel object inside their own).
import { run, runChecked } from '../../shared/exec.js';

export interface NetOptions {
  /** Run inside this network namespace (`ip -n NS`, `ip netns exec NS cmd`). */
  netns?: string;
}

const TIMEOUT_MS = 30_000;

/** `ip [-n NS] args…`; rejects with ip's message on failure. */
export function ip(args: readonly string[], opts: NetOptions = {}): Promise<string> {
  const full = opts.netns ? ['-n', opts.netns, ...args] : [...args];
  return runChecked('ip', full, { timeoutMs: TIMEOUT_MS });
}

/** Any other command, inside the namespace when one is given. */
export function inNs(cmd: string, args: readonly string[], opts: NetOptions = {}, timeoutMs = TIMEOUT_MS) {
  return opts.netns
    ? run('ip', ['netns', 'exec', opts.netns, cmd, ...args], { timeoutMs })
    : run(cmd, args, { timeoutMs });
}

/** One link as `ip -j -d link show` describes it (only the fields Berth reads). */
export interface Link {
  ifname: string;
  ifindex: number;
  mtu: number;
  address?: string;
  flags: string[];
  operstate?: string;
  master?: string;
  ifalias?: string;
  promiscuity?: number;
  parentbus?: string;
  parentdev?: string;
  link_type?: string;
  linkinfo?: { info_kind?: string; info_slave_kind?: string; info_data?: Record<string, unknown> };
}

/** Parses `ip -j -d link show` output (pure). */
export function parseLinks(json: string): Link[] {
  const v = JSON.parse(json.trim() || '[]');
  if (!Array.isArray(v)) throw new Error('ip -j link: not a list');
  return v.filter((l) => l && typeof l.ifname === 'string') as Link[];
}

export async function links(opts: NetOptions = {}): Promise<Link[]> {
  return parseLinks(await ip(['-j', '-d', 'link', 'show'], opts));
}

export async function link(name: string, opts: NetOptions = {}): Promise<Link | undefined> {
  const r = await run(
    'ip',
    [...(opts.netns ? ['-n', opts.netns] : []), '-j', '-d', 'link', 'show', 'dev', name],
    {
      timeoutMs: TIMEOUT_MS,
    },
  );
  if (r.code !== 0) return undefined;
  return parseLinks(r.stdout)[0];
}

/** The alias Berth writes on every kernel object it creates: only those it ever deletes. */
export const OWNER_ALIAS = 'berth-managed';

export const ownedByBerth = (l: Link | undefined): boolean => l?.ifalias === OWNER_ALIAS;

export async function markOwned(name: string, opts: NetOptions = {}): Promise<void> {
  await ip(['link', 'set', 'dev', name, 'alias', OWNER_ALIAS], opts);
}

/** Deletes a link only if Berth created it; true if something was deleted. */
export async function deleteOwned(name: string, opts: NetOptions = {}): Promise<boolean> {
  const l = await link(name, opts);
  if (!ownedByBerth(l)) return false;
  await ip(['link', 'del', 'dev', name], opts);
  return true;
}
