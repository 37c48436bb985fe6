// CLI-level failures and how every failure is reported to the user (xapi_cli.ml's
// exception handler): texts, which stream, and the XenAPI error layout.
import { XenApiError } from '../../shared/errors.js';
import { XAPI_ERRORS } from './data/xapi-errors.js';

/** A failure reported as xapi's CLI reports it; `kind` picks the layout. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly kind: 'error' | 'syntax' | 'missing' | 'unknown-command' | 'auth' | 'plain' = 'error',
  ) {
    super(message);
    this.name = 'CliError';
  }
  static syntax() {
    return new CliError('', 'syntax');
  }
  static missing(p: string) {
    return new CliError(p, 'missing');
  }
  static unknownCommand(c: string) {
    return new CliError(c, 'unknown-command');
  }
}

/** `--multiple` failures, printed on stdout one per object. */
export class MultipleFailure extends Error {
  constructor(readonly failures: [string, string][]) {
    super('multiple failures');
  }
}

/** A report: lines for stdout and stderr, or a protocol-level Error command for unknown codes. */
export interface ErrorReport {
  stdout: string[];
  stderr: string[];
  /** Unknown XenAPI code: sent as the protocol's Error(code, params); the client prints it. */
  wireError?: { code: string; params: string[] };
}

const USAGE = "For usage run: 'xe help'";
const paramError = (s: string, t: string): ErrorReport => ({
  stdout: [],
  stderr: [s ? `${s}: ${t}` : t, USAGE],
});

/** A XenAPI error as xapi's CLI shows it: the documentation sentence and one line per parameter. */
export function xenApiErrorLines(code: string, params: string[]): string[] | undefined {
  const fact = XAPI_ERRORS[code];
  if (!fact) return undefined;
  const names = code === 'VMS_FAILED_TO_COOPERATE' ? params.map(() => 'VM') : fact.params;
  const lines = [fact.doc];
  const n = Math.max(names.length, params.length);
  for (let i = 0; i < n; i++) {
    if (i >= names.length) lines.push(`<extra>: ${params[i]}`);
    else lines.push(`${names[i]}: ${i < params.length ? params[i] : '<unknown>'}`);
  }
  return lines;
}

/**
 * Turns any failure into a report. `describe` renders error parameters that are refs
 * (`uuid (name)`), as xapi's ref_convert does.
 */
export async function reportError(
  e: unknown,
  describe: (p: string) => Promise<string>,
): Promise<ErrorReport> {
  if (e instanceof CliError) {
    switch (e.kind) {
      case 'syntax':
        return paramError('Syntax error', e.message);
      case 'missing':
        return paramError('Required parameter not found', e.message);
      case 'unknown-command':
        return paramError('Unknown command', e.message);
      case 'auth':
        return paramError('', e.message);
      case 'plain':
        return { stdout: [], stderr: [e.message] };
      default:
        return { stdout: [], stderr: [`Error: ${e.message}`] };
    }
  }
  if (e instanceof MultipleFailure)
    return { stdout: e.failures.map(([u, m]) => `operation failed on ${u}: ${m}`), stderr: [] };
  if (e instanceof XenApiError) {
    if (e.code === 'SESSION_AUTHENTICATION_FAILED')
      return paramError('', e.params[0] ? 'Authentication failed' : 'Username/password must be specified');
    const params = await Promise.all(e.params.map((p) => describe(p).catch(() => p)));
    const lines = xenApiErrorLines(e.code, params);
    if (!lines) return { stdout: [], stderr: [], wireError: { code: e.code, params } };
    return { stdout: [], stderr: lines };
  }
  const text = e instanceof Error ? e.message : String(e);
  return { stdout: [], stderr: xenApiErrorLines('INTERNAL_ERROR', [text])! };
}

/** The one-line text of a failure (for `--multiple` collections). */
export function errorText(e: unknown): string {
  if (e instanceof XenApiError) return [e.code, ...e.params].join(', ');
  return e instanceof Error ? e.message : String(e);
}
