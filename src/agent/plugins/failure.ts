// Plugin failures and how they become the XENAPI_PLUGIN_FAILURE parameters
// [code, message, details]. The mapping follows xcpngutils' `error_wrapped`: an explicit failure
// keeps its code, an OS error uses its errno, a failed command its exit code, anything else "-1".
import { constants } from 'node:os';

/** An explicit failure raised by a plugin (XenAPIPlugin.Failure / raise_plugin_error). */
export class PluginFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details = '',
  ) {
    super(message);
    this.name = 'PluginFailure';
  }
}

/** An OS-level error (python OSError): errno, strerror, filename. */
export class OsError extends Error {
  constructor(
    readonly errno: number,
    readonly strerror: string,
    readonly filename = 'None',
  ) {
    super(strerror);
    this.name = 'OsError';
  }
}

/** A command that exited non-zero while its caller required success (xcpngutils ProcessException). */
export class ProcessError extends Error {
  constructor(
    readonly returncode: number,
    readonly command: readonly string[],
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`Command '${pyRepr(command)}' failed with code: ${returncode}`);
    this.name = 'ProcessError';
  }
}

/** Python's repr() of a str. */
export function pyStr(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (ch < ' ' || ch === '\x7f') out += `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return out + quote;
}

/** Python's repr() of a list of str, as upstream error messages print commands. */
export const pyRepr = (list: readonly string[]): string => `[${list.map(pyStr).join(', ')}]`;

/** Node's errno strings ("ENOENT") to the positive errno python would report. */
function errnoOf(e: NodeJS.ErrnoException): number | undefined {
  if (typeof e.code === 'string') {
    const n = (constants.errno as Record<string, number>)[e.code];
    if (typeof n === 'number') return n;
  }
  return typeof e.errno === 'number' ? Math.abs(e.errno) : undefined;
}

/** Any thrown value to the [code, message, details] a plugin failure carries. */
export function failureParams(e: unknown): [string, string, string] {
  if (e instanceof PluginFailure) return [e.code, e.message, e.details];
  if (e instanceof OsError) return [String(e.errno), e.strerror, e.filename];
  if (e instanceof ProcessError) {
    return [String(e.returncode), e.message, `stdout: ${pyStr(e.stdout)}, stderr: ${pyStr(e.stderr)}`];
  }
  if (e instanceof Error) {
    const errno = errnoOf(e as NodeJS.ErrnoException);
    const syscall = (e as NodeJS.ErrnoException).syscall;
    if (errno !== undefined && syscall !== undefined) {
      return [String(errno), e.message, String((e as NodeJS.ErrnoException).path ?? 'None')];
    }
    return ['-1', e.message, ''];
  }
  return ['-1', String(e), ''];
}
