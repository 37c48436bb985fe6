// A XenAPI failure: an error code and its string parameters, exactly as sent on the wire
// (`ErrorDescription` in XML-RPC, `error` in JSON-RPC).
export class XenApiError extends Error {
  readonly code: string;
  readonly params: string[];
  constructor(code: string, params: readonly string[] = []) {
    super(params.length ? `${code}: ${params.join(', ')}` : code);
    this.name = 'XenApiError';
    this.code = code;
    this.params = [...params];
  }
  /** The wire form: [code, ...params]. */
  get description(): string[] {
    return [this.code, ...this.params];
  }
}

export const isXenApiError = (e: unknown): e is XenApiError => e instanceof XenApiError;

/** `INTERNAL_ERROR` carrying an exception text, as xapi reports unexpected failures. */
export const internalError = (text: string) => new XenApiError('INTERNAL_ERROR', [text]);
