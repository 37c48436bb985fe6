// The optional read-only scrape token: `Authorization: Bearer <token>` (Prometheus' scrape
// `authorization` block) checked against the file named by --metrics-token-file. The file is read
// at each request, so replacing it rotates the token without a restart; the token is never logged.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { logger } from '../../../shared/log.js';

const log = logger('metrics');

/** The token of a `Bearer` Authorization header ('' when it has none); undefined for any other scheme. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^\s*bearer(?:\s+(.*))?$/i.exec(header ?? '');
  return m ? (m[1] ?? '').trim() : undefined;
}

/** Constant-time comparison (of digests, so the length of the token leaks neither). */
export function tokenMatches(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected)) && expected.length > 0;
}

/** The last unreadable-file warning, so a scrape every second logs it once, not every time. */
let warned: string | undefined;

/** The configured token (first line, trimmed); undefined when none is configured or readable. */
export async function configuredToken(file: string | null): Promise<string | undefined> {
  if (!file) return undefined;
  try {
    const token = (await readFile(file, 'utf8')).split('\n')[0].trim();
    warned = undefined;
    return token || undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    if (warned !== `${file}\0${code}`) {
      warned = `${file}\0${code}`;
      log.warn('metrics token file unreadable: bearer tokens are refused', { file, error: code });
    }
    return undefined;
  }
}
