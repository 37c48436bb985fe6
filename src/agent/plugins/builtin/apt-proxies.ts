// Proxy settings for apt, presented as upstream's {section: proxy} map where a section is a
// host that apt sources download from. Berth writes per-host `Acquire::<scheme>::Proxy::<host>`
// entries into one file of its own; reading goes through `apt-config dump`, so settings made
// anywhere in apt's configuration are reported. `_none_` is written as "DIRECT".
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { NO_PROXY } from './proxy-value.js';

export interface AptSource {
  host: string;
  scheme: string;
}

/** Sources from one-line (`deb [opts] uri suite ...`) and deb822 (`URIs:`) files. */
export function parseSources(text: string, deb822: boolean): AptSource[] {
  const uris: string[] = [];
  if (deb822) {
    for (const stanza of text.split(/\n\s*\n/)) {
      if (/^Enabled:\s*no\s*$/im.test(stanza)) continue;
      const m = /^URIs:\s*(.+)$/im.exec(stanza);
      if (m) uris.push(...m[1].trim().split(/\s+/));
    }
  } else {
    for (const raw of text.split('\n')) {
      const line = raw.replace(/#.*/, '').trim();
      const m = /^deb(?:-src)?\s+(?:\[[^\]]*\]\s+)?(\S+)/.exec(line);
      if (m) uris.push(m[1]);
    }
  }
  const out: AptSource[] = [];
  for (const u of uris) {
    const m = /^(https?):\/\/(?:[^@/]*@)?([^/:]+)/.exec(u);
    if (m) out.push({ scheme: m[1], host: m[2].toLowerCase() });
  }
  return out;
}

/** `apt-config dump` lines (`Key "value";`) -> map. */
export function parseAptConfigDump(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const m = /^(\S+) "(.*)";$/.exec(line);
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

/** `apt-config shell` output (`NAME='value'`) -> map. */
export function parseAptConfigShell(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const m = /^(\w+)='(.*)'$/.exec(line);
    if (m) out.set(m[1], m[2]);
  }
  return out;
}

export async function readSources(list: string, partsDir: string): Promise<AptSource[]> {
  const out: AptSource[] = [];
  const tryRead = async (p: string) => readFile(p, 'utf8').catch(() => '');
  out.push(...parseSources(await tryRead(list), false));
  const names = await readdir(partsDir).catch(() => [] as string[]);
  for (const n of names.sort()) {
    if (n.endsWith('.list')) out.push(...parseSources(await tryRead(join(partsDir, n)), false));
    else if (n.endsWith('.sources')) out.push(...parseSources(await tryRead(join(partsDir, n)), true));
  }
  return out;
}

/** host -> the schemes its sources use, in first-seen order. */
export function hostsOf(sources: AptSource[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const s of sources) {
    const schemes = out.get(s.host) ?? [];
    if (!schemes.includes(s.scheme)) schemes.push(s.scheme);
    out.set(s.host, schemes);
  }
  return out;
}

const fromApt = (v: string | undefined) =>
  v === undefined || v === '' || v.toUpperCase() === 'DIRECT' ? NO_PROXY : v;

/** The effective proxy of each host: per-host setting, else the scheme's global proxy. */
export function effectiveProxies(
  hosts: Map<string, string[]>,
  config: Map<string, string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [host, schemes] of hosts) {
    const scheme = schemes[0];
    out[host] = fromApt(
      config.get(`Acquire::${scheme}::Proxy::${host}`) ?? config.get(`Acquire::${scheme}::Proxy`),
    );
  }
  return out;
}

const ENTRY_RE = /^Acquire::(https?)::Proxy::(\S+) "([^"]*)";$/;

/** Berth's own proxy file -> "scheme host" -> value. */
export function parseManagedFile(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = ENTRY_RE.exec(line.trim());
    if (m) out.set(`${m[1]} ${m[2]}`, m[3]);
  }
  return out;
}

export function renderManagedFile(entries: Map<string, string>): string {
  const lines = ['// Managed by Berth (host.call_plugin updater set_proxies); edits here are overwritten.'];
  for (const key of [...entries.keys()].sort()) {
    const [scheme, host] = key.split(' ');
    lines.push(`Acquire::${scheme}::Proxy::${host} "${entries.get(key)}";`);
  }
  return `${lines.join('\n')}\n`;
}
