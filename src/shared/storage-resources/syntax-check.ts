// Locates a plugin's syntax error as IML's validator reports it: `SyntaxError: <file>:<line>:<offset>:
// <text>` (offset 1-based, text the offending source line). Node's dynamic import() says only
// "Unexpected token", so JavaScript files are re-checked with `node --check` (Node's own parser,
// the one import() used) and TypeScript errors are read from tsx/esbuild's TransformError.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface SyntaxErrorLocation {
  file: string;
  line: number;
  offset: number;
  text: string;
}

export function formatSyntaxError(loc: SyntaxErrorLocation): string {
  return `SyntaxError: ${loc.file}:${loc.line}:${loc.offset}: ${loc.text}`;
}

/** From tsx's `Transform failed with 1 error:\n<file>:<line>:<col>: ERROR: <msg>` (col 0-based). */
export function locateTransformError(message: string): SyntaxErrorLocation | null {
  const m = /^(.+):(\d+):(\d+): ERROR: /m.exec(message);
  if (!m) return null;
  const line = Number(m[2]);
  return { file: m[1], line, offset: Number(m[3]) + 1, text: sourceLine(m[1], line) };
}

/** Runs `node --check file`: null when the file parses, else where it does not. */
export function checkJavaScriptSyntax(file: string): Promise<SyntaxErrorLocation | null> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--check', file], { timeout: 30_000 }, (err, _stdout, stderr) => {
      if (!err) return resolve(null);
      resolve(parseNodeCheck(file, String(stderr)));
    });
  });
}

/** `node --check` prints `<file>:<line>`, the source line, a caret line, then `SyntaxError: …`. */
export function parseNodeCheck(file: string, stderr: string): SyntaxErrorLocation | null {
  const lines = stderr.split('\n');
  const at = lines.findIndex((l) => /:\d+$/.test(l) && l.startsWith(file));
  if (at < 0) return null;
  const line = Number(/:(\d+)$/.exec(lines[at])![1]);
  const caret = (lines[at + 2] ?? '').indexOf('^');
  return { file, line, offset: caret >= 0 ? caret + 1 : 1, text: lines[at + 1] ?? sourceLine(file, line) };
}

function sourceLine(file: string, line: number): string {
  try {
    return readFileSync(file, 'utf8').split('\n')[line - 1] ?? '';
  } catch {
    return '';
  }
}
