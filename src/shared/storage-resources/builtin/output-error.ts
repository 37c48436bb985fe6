// Errors of the built-in plugins' parsers: odd tool output becomes one clear message naming the
// tool, never a TypeError from deep inside a report.

export class ToolOutputError extends Error {
  constructor(
    readonly tool: string,
    detail: string,
  ) {
    super(`${tool}: ${detail}`);
    this.name = 'ToolOutputError';
  }
}

/** JSON.parse with the tool's name in the error (empty and truncated output included). */
export function parseToolJson(tool: string, text: string): unknown {
  if (text.trim() === '') throw new ToolOutputError(tool, 'empty output');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ToolOutputError(tool, `output is not JSON (${(e as Error).message})`);
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A non-negative integer from a number or a decimal string (LVM reports sizes as strings). */
export function toSize(tool: string, what: string, v: unknown): number {
  const n =
    typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 0)
    throw new ToolOutputError(tool, `${what} is not a size: ${JSON.stringify(v)}`);
  return n;
}

export function requireString(tool: string, what: string, v: unknown): string {
  if (typeof v !== 'string' || v === '')
    throw new ToolOutputError(tool, `${what} is missing or not a string`);
  return v;
}
