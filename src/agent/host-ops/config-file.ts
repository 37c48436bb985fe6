// The agent's host operations configuration file (--host-ops-config, JSON): every key of
// HostOpsOptions, checked for its type; an unknown key or a relative path is an error, so a typo
// cannot silently leave a default (or open a path) the operator did not mean.
import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { HostOpsOptions } from './options.js';

type Kind = 'path' | 'paths' | 'argv' | 'seconds' | 'bytes' | 'name';
const KEYS: Record<keyof HostOpsOptions, Kind> = {
  restrictedCommandsDir: 'path',
  restrictedCommandTimeoutSec: 'seconds',
  restrictedCommandFailDelaySec: 'seconds',
  oobPrograms: 'paths',
  powercycleCommand: 'argv',
  rebootCommand: 'argv',
  shutdownCommand: 'argv',
  powerDelaySec: 'seconds',
  uploadFiles: 'paths',
  uploadMaxBytes: 'bytes',
  hostsFile: 'path',
  x509Dir: 'path',
  fileInfoRoots: 'paths',
  wolInterface: 'name',
  storageRoots: 'paths',
};

const absolute = (v: unknown) => typeof v === 'string' && isAbsolute(v) && !v.includes('\0');

function valid(kind: Kind, v: unknown): boolean {
  switch (kind) {
    case 'path':
      return absolute(v);
    case 'paths':
      return Array.isArray(v) && v.every(absolute);
    case 'argv':
      return Array.isArray(v) && v.length > 0 && absolute(v[0]) && v.every((a) => typeof a === 'string');
    case 'seconds':
      return typeof v === 'number' && v >= 0 && v <= 86_400;
    case 'bytes':
      return typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= 1024 ** 3;
    case 'name':
      return typeof v === 'string' && /^[A-Za-z0-9_.:-]{1,15}$/.test(v);
  }
}

/** The options in `text` (a JSON object), or an Error naming the bad key. */
export function parseHostOpsConfig(text: string): HostOpsOptions {
  const raw = JSON.parse(text) as unknown;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new Error('host operations config: not a JSON object');
  for (const [k, v] of Object.entries(raw)) {
    const kind = KEYS[k as keyof HostOpsOptions];
    if (!kind) throw new Error(`host operations config: unknown key ${k}`);
    if (!valid(kind, v))
      throw new Error(
        `host operations config: bad ${k} (${kind === 'argv' ? 'an argument array, the program an absolute path' : kind})`,
      );
  }
  return raw as HostOpsOptions;
}

export function readHostOpsConfig(path: string): HostOpsOptions {
  return parseHostOpsConfig(readFileSync(path, 'utf8'));
}
