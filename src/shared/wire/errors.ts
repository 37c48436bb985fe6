// Transport-level failures of the XenAPI wire codecs. xapi answers these with HTTP 500 and an HTML
// page (not an in-band API error), so they get their own class the HTTP server can recognise.

export class WireFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireFormatError';
  }
}

export const isWireFormatError = (e: unknown): e is WireFormatError => e instanceof WireFormatError;

const htmlEscape = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** xapi's HTML body for an HTTP 500 (sent with `connection: close`). */
export function http500Body(text: string): string {
  return (
    '<html><body><h1>HTTP 500 internal server error</h1>An unexpected error occurred; please wait a ' +
    'while and try again. If the problem persists, please contact your support representative.' +
    `<h1> Additional information </h1>${htmlEscape(text)}</body></html>`
  );
}
