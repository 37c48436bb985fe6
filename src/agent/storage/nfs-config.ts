// The pure half of the NFS SR: device_config checks, mount options as xapi's SM builds them, and
// parsers for showmount, /proc/self/mountinfo and /proc/filesystems. No processes, no files.
import { isIP } from 'node:net';
import { posix } from 'node:path';
import { XenApiError } from '../../shared/errors.js';
import { smError } from './sm-errors.js';

export interface NfsConfig {
  server: string;
  /** Absent only for SR.probe, which then lists the server's exports. */
  serverpath?: string;
  /** "3" (SM's default), "4", "4.0", "4.1" or "4.2". */
  nfsversion: string;
  transport: 'tcp' | 'udp' | 'tcp6' | 'udp6';
  /** Extra mount options from device_config:options, already checked one by one. */
  options: string[];
}

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const HOSTNAME = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})*\\.?$`);
// Characters a server path may hold: enough for real exports, nothing a mount helper interprets.
const SERVERPATH = /^\/[A-Za-z0-9._@+=,~/-]*$/;
const OPTION = /^[A-Za-z][A-Za-z0-9_]*(?:=[A-Za-z0-9._:/@+-]+)?$/;
const VERSION = /^(?:3|4(?:\.[0-2])?)$/;

/** A hostname (RFC 1123) or an IPv4/IPv6 address. */
export const isServerName = (s: string) => isIP(s) !== 0 || HOSTNAME.test(s);

/** device_config of an `nfs` SR, checked; throws SM's error for what is missing or malformed. */
export function parseNfsConfig(dc: Record<string, string>): NfsConfig {
  const server = dc.server;
  if (!server) throw smError('ConfigServerMissing');
  if (!isServerName(server))
    throw smError('DNSError', `${JSON.stringify(server)} is not a hostname or IP address`);
  const serverpath = dc.serverpath || undefined;
  if (serverpath !== undefined) {
    const clean = serverpath.length > 1 ? serverpath.replace(/\/+$/, '') : serverpath;
    if (serverpath.length > 1024 || !SERVERPATH.test(clean) || posix.normalize(clean) !== clean)
      throw smError(
        'ConfigServerPathBad',
        `${JSON.stringify(serverpath)} must be an absolute, normalised path`,
      );
  }
  const nfsversion = dc.nfsversion || '3';
  if (!VERSION.test(nfsversion)) throw smError('NFSVersion', 'Invalid nfsversion.');
  const options = dc.options ? dc.options.split(',').filter((o) => o !== '') : [];
  for (const o of options)
    if (!OPTION.test(o))
      throw new XenApiError('INVALID_VALUE', ['device_config:options', dc.options, `bad mount option ${o}`]);
  const v6 = isIP(server) === 6;
  const udp = dc.useUDP === 'true';
  const transport = udp ? (v6 ? 'udp6' : 'udp') : v6 ? 'tcp6' : 'tcp';
  return {
    server,
    serverpath: serverpath && serverpath.length > 1 ? serverpath.replace(/\/+$/, '') : serverpath,
    nfsversion,
    transport,
    options,
  };
}

/** SM's timeo (deciseconds) and retrans defaults for a soft mount (nfs.py get_nfs_timeout/retrans). */
export const NFS_TIMEO = 200;
export const NFS_RETRANS = 4;

/** `-o` for mount.nfs, as SM's soft_mount builds it; user options come last. */
export function mountOptions(c: NfsConfig): string {
  return [
    'soft',
    `proto=${c.transport}`,
    `vers=${c.nfsversion}`,
    'acdirmin=0',
    'acdirmax=0',
    `timeo=${NFS_TIMEO}`,
    `retrans=${NFS_RETRANS}`,
    ...c.options,
  ].join(',');
}

/** `server:path` as mount.nfs takes it (IPv6 addresses in brackets). */
export const remoteSpec = (server: string, path: string) =>
  `${isIP(server) === 6 ? `[${server}]` : server}:${path}`;

export interface NfsExport {
  path: string;
  access: string;
}

/** `showmount --no-headers -e` output: one export per line, path then its access list. */
export function parseShowmount(out: string): NfsExport[] {
  return out
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((l) => {
      const [path, ...rest] = l.split(/\s+/);
      return { path, access: rest.join(' ') || '*' };
    });
}

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** SM's export list for an NFS probe without serverpath (`<nfs-exports><Export>…`). */
export function exportsXml(server: string, exports: readonly NfsExport[]): string {
  const items = exports.map(
    (e) =>
      `<Export><Target>${esc(server)}</Target><Path>${esc(e.path)}</Path>` +
      `<Accesslist>${esc(e.access)}</Accesslist></Export>`,
  );
  return `<?xml version="1.0" ?><nfs-exports>${items.join('')}</nfs-exports>`;
}

/** Mount points listed in /proc/self/mountinfo (field 5, octal escapes decoded). */
export function mountPoints(mountinfo: string): string[] {
  return mountinfo
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((p): p is string => !!p)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))));
}

/** Whether the kernel can mount NFS: built in or loaded (/proc/filesystems), or a module to load. */
export function kernelHasNfs(filesystems: string, moduleAvailable: boolean): boolean {
  const listed = filesystems
    .split('\n')
    .map((l) => l.trim().split(/\s+/).pop())
    .some((fs) => fs === 'nfs' || fs === 'nfs4');
  return listed || moduleAvailable;
}
