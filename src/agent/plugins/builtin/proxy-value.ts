// Proxy values accepted by set_proxies: `_none_` or a proxy URL that cannot break out of the
// configuration line it is written to.
import { PluginFailure } from '../failure.js';

export const NO_PROXY = '_none_';

const PROXY_RE = /^(https?|socks5h?|socks4a?):\/\/[^\s"';{}\\]+$/;

export function checkProxy(section: string, value: unknown): string {
  if (value === NO_PROXY) return value;
  if (typeof value === 'string' && PROXY_RE.test(value)) return value;
  throw new PluginFailure('-1', `Invalid proxy ${JSON.stringify(value)} for section '${section}'`);
}

/** `proxies` argument -> {section: proxy}. */
export function parseProxiesArg(parsed: unknown): Record<string, string> {
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new PluginFailure('-1', 'Argument `proxies` must be a JSON object {section: proxy}');
  }
  const out: Record<string, string> = {};
  for (const [section, value] of Object.entries(parsed)) out[section] = checkProxy(section, value);
  return out;
}
