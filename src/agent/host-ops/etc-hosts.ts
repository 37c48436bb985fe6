// etc_hosts_modify: Ganeti's add/remove of a host in the hosts file (ganeti-noded.md §2). Add
// replaces every line's mention of the name with one `<ip>\t<fqdn> <short>` line; remove drops the
// name (and its short form) from every line, and lines left without names. Names and addresses are
// checked so no entry can carry another line, a comment or extra aliases.
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { writeAtomic } from './atomic-write.js';
import { failed, invalid } from './failures.js';
import type { HostOpsConfig } from './options.js';

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOSTNAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
const MAX_HOSTS_BYTES = 4 * 1024 * 1024;

export function validHostName(v: unknown): v is string {
  return typeof v === 'string' && v.length <= 253 && HOSTNAME.test(v);
}

/** The lines of `text` with `names` removed; a line left with only its address goes. */
export function removeNames(text: string, names: readonly string[]): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const [body, ...comment] = line.split('#');
    const fields = body.trim().split(/\s+/).filter(Boolean);
    if (fields.length < 2) {
      out.push(line);
      continue;
    }
    const kept = fields.slice(1).filter((n) => !names.includes(n));
    if (kept.length === fields.length - 1) out.push(line);
    else if (kept.length > 0)
      out.push([fields[0], kept.join(' ')].join('\t') + (comment.length ? ` #${comment.join('#')}` : ''));
  }
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out;
}

export function etcHostsModify(cfg: HostOpsConfig, mode: unknown, host: unknown, ip: unknown): boolean {
  if (mode !== 'add' && mode !== 'remove') throw invalid('mode', mode);
  if (!validHostName(host)) throw invalid('host', host);
  if (mode === 'add' && (typeof ip !== 'string' || isIP(ip) === 0)) throw invalid('ip', ip);
  const short = host.split('.')[0];
  const names = short === host ? [host] : [host, short];
  let text = '';
  let fileMode = 0o644;
  try {
    const st = statSync(cfg.hostsFile);
    if (!st.isFile()) throw failed('etc_hosts_modify', `${cfg.hostsFile} is not a regular file`);
    if (st.size > MAX_HOSTS_BYTES) throw failed('etc_hosts_modify', `${cfg.hostsFile} is too large`);
    fileMode = st.mode & 0o777;
    text = readFileSync(cfg.hostsFile, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const lines = removeNames(text, names);
  if (mode === 'add') lines.push(`${ip}\t${names.join(' ')}`);
  writeAtomic(cfg.hostsFile, lines.length ? `${lines.join('\n')}\n` : '', { mode: fileMode });
  return true;
}
