// This host's place in its pool, kept in the data directory as xapi keeps it in pool.conf:
// `master`, or `slave:<master address>`. Next to it: the pool secret intra-pool calls carry
// (xapi's ptoken) and the uuid of this host's own record (xapi's INSTALLATION_UUID), which is how
// a slave finds itself in a replica whose pool.master is another host.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type PoolRole = { kind: 'master' } | { kind: 'slave'; master: string };

const roleFile = (dataDir: string) => join(dataDir, 'pool.conf');
const secretFile = (dataDir: string) => join(dataDir, 'pool-secret');
const localhostFile = (dataDir: string) => join(dataDir, 'localhost-uuid');

export function parseRole(text: string): PoolRole {
  const s = text.trim();
  if (s === 'master') return { kind: 'master' };
  if (s.startsWith('slave:') && s.length > 6) return { kind: 'slave', master: s.slice(6) };
  throw new Error(`cannot parse pool role '${s}'`);
}

export function formatRole(role: PoolRole): string {
  return role.kind === 'master' ? 'master' : `slave:${role.master}`;
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Written to a temp file and renamed: a crash leaves the old or the new content, never half. */
function writeAtomic(path: string, text: string) {
  writeFileSync(`${path}.tmp`, text, { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

/** A data directory without pool.conf is a fresh host: master of its own pool. */
export function readRole(dataDir: string): PoolRole {
  const text = readOptional(roleFile(dataDir));
  return text === undefined ? { kind: 'master' } : parseRole(text);
}

export function writeRole(dataDir: string, role: PoolRole): void {
  writeAtomic(roleFile(dataDir), `${formatRole(role)}\n`);
}

export const newSecret = () => randomBytes(32).toString('hex');

/** The pool secret, created on first use (a standalone host is the master of its own pool). */
export function readOrCreateSecret(dataDir: string): string {
  const existing = readOptional(secretFile(dataDir))?.trim();
  if (existing) return existing;
  const secret = newSecret();
  writeAtomic(secretFile(dataDir), `${secret}\n`);
  return secret;
}

export function writeSecret(dataDir: string, secret: string): void {
  writeAtomic(secretFile(dataDir), `${secret}\n`);
}

export function secretsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function readLocalhostUuid(dataDir: string): string | undefined {
  return readOptional(localhostFile(dataDir))?.trim() || undefined;
}

export function writeLocalhostUuid(dataDir: string, uuid: string): void {
  writeAtomic(localhostFile(dataDir), `${uuid}\n`);
}
