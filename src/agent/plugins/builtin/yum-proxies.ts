// Proxy settings of a yum/dnf repository file (ini). Edits keep every other line of the file.
// A repository behind an HTTP proxy reaches its HTTPS origin through yum's
// `http://HTTPS///host/path` form; removing the proxy turns it back into `https://host/path`.
import { PluginFailure } from '../failure.js';
import { NO_PROXY } from './proxy-value.js';

interface Entry {
  key: string;
  value: string;
  line: number;
}

interface Section {
  name: string;
  header: number;
  last: number;
  entries: Entry[];
}

export function parseIni(lines: readonly string[]): Section[] {
  const sections: Section[] = [];
  let cur: Section | undefined;
  lines.forEach((raw, i) => {
    const line = raw.trim();
    const h = /^\[([^\]]+)\]$/.exec(line);
    if (h) {
      cur = { name: h[1].trim(), header: i, last: i, entries: [] };
      sections.push(cur);
      return;
    }
    if (!cur || line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const m = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(line);
    if (m) {
      cur.entries.push({ key: m[1].toLowerCase(), value: m[2], line: i });
      cur.last = i;
    }
  });
  return sections;
}

const get = (s: Section, key: string) => s.entries.find((e) => e.key === key);

export function getYumProxies(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of parseIni(text.split('\n'))) out[s.name] = get(s, 'proxy')?.value || NO_PROXY;
  return out;
}

const HTTPS = 'https://';
const TUNNEL = 'http://HTTPS///';

/** The baseurl a section needs for `proxy`, or an error for a URL of another kind. */
export function rewriteBaseurl(section: string, url: string, proxy: string): string {
  if (proxy === NO_PROXY) {
    if (url.startsWith(TUNNEL)) return HTTPS + url.slice(TUNNEL.length);
    if (url.startsWith(HTTPS)) return url;
  } else {
    if (url.startsWith(HTTPS)) return TUNNEL + url.slice(HTTPS.length);
    if (url.startsWith(TUNNEL)) return url;
  }
  throw new PluginFailure('-1', `Unexpected URL "${url}" for proxy "${proxy}" in section "${section}"`);
}

/** Applies {section: proxy} to the file text; returns the new text (unchanged when nothing to do). */
export function setYumProxies(text: string, proxies: Record<string, string>): string {
  const lines = text.split('\n');
  const inserts: { after: number; text: string }[] = [];
  const sections = parseIni(lines);
  for (const [name, proxy] of Object.entries(proxies)) {
    const s = sections.find((x) => x.name === name);
    if (!s) throw new PluginFailure('-1', `Can't find section '${name}' in config file`);
    const current = get(s, 'proxy');
    if ((current?.value || NO_PROXY) === proxy) continue;
    if (current) lines[current.line] = `proxy=${proxy}`;
    else inserts.push({ after: s.last, text: `proxy=${proxy}` });
    const base = get(s, 'baseurl');
    if (base) lines[base.line] = `baseurl=${rewriteBaseurl(name, base.value, proxy)}`;
  }
  for (const ins of inserts.sort((a, b) => b.after - a.after)) lines.splice(ins.after + 1, 0, ins.text);
  return lines.join('\n');
}
