// The status responses of xapi's HTTP server (http-lib http.ml / http_svr.ml), byte for byte
// where clients can see them: status line, `Connection: close`, `Cache-Control: no-cache,
// no-store`, and the html bodies of 401/403/400/404/500. Every error closes the connection.
import type { ServerResponse } from 'node:http';

const NO_CACHE = 'no-cache, no-store';

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** response_error_html: text/html body, connection closed. */
function sendHtml(res: ServerResponse, status: number, reason: string, body: string, extra = {}) {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.shouldKeepAlive = false;
  res.writeHead(status, reason, {
    'Content-Type': 'text/html',
    Connection: 'close',
    'Cache-Control': NO_CACHE,
    'Content-Length': Buffer.byteLength(body),
    ...extra,
  });
  res.end(body);
}

/** 401, with the realm xapi names after the HTTP action (e.g. `get_export`). */
export function sendUnauthorised(res: ServerResponse, realm: string) {
  sendHtml(
    res,
    401,
    'Unauthorised',
    '<html><body><h1>HTTP 401 unauthorised</h1>Please check your credentials and retry.</body></html>',
    { 'WWW-Authenticate': `Basic realm="${realm.replace(/["\\]/g, '')}"` },
  );
}

export function sendForbidden(res: ServerResponse) {
  sendHtml(
    res,
    403,
    'Forbidden',
    '<html><body><h1>HTTP 403 forbidden</h1>Access to the requested resource is forbidden.</body></html>',
  );
}

export function sendBadRequest(res: ServerResponse) {
  sendHtml(
    res,
    400,
    'Bad Request',
    '<html><body><h1>HTTP 400 bad request</h1>The HTTP request was malformed. Please correct and retry.</body></html>',
  );
}

/** http_404_missing: headers only, no body (what the export/import handlers send). */
export function sendNotFound(res: ServerResponse) {
  if (res.headersSent) return void res.destroy();
  res.shouldKeepAlive = false;
  res.writeHead(404, 'Not Found', { Connection: 'close', 'Cache-Control': NO_CACHE, 'Content-Length': 0 });
  res.end();
}

/** response_internal_error, with xapi's "Additional information" (the error as ExnHelper prints it). */
export function sendInternalError(res: ServerResponse, extra?: string) {
  const more = extra === undefined ? '' : `<h1> Additional information </h1>${escapeHtml(extra)}`;
  sendHtml(
    res,
    500,
    'Internal Error',
    `<html><body><h1>HTTP 500 internal server error</h1>An unexpected error occurred; please wait a while and try again. If the problem persists, please contact your support representative.${more}</body></html>`,
  );
}

/** http_302_redirect: headers only. */
export function sendRedirect(res: ServerResponse, location: string) {
  if (res.headersSent) return void res.destroy();
  res.shouldKeepAlive = false;
  res.writeHead(302, 'Found', {
    Connection: 'close',
    'Cache-Control': NO_CACHE,
    Location: location,
    'Content-Length': 0,
  });
  res.end();
}

/** xapi's ExnHelper.string_of_exn for an API error: `CODE: [ p1; p2 ]`. */
export function errorText(code: string, params: readonly string[]): string {
  return `${code}: [ ${params.join('; ')} ]`;
}

/**
 * The 200 of a streaming handler: `Connection: close`, no Content-Length unless given, the body
 * running to the end of the connection (never chunked), as xapi's handlers answer.
 */
export function sendStreamHead(res: ServerResponse, headers: Record<string, string | number>) {
  res.shouldKeepAlive = false;
  const hasLength = Object.keys(headers).some((k) => k.toLowerCase() === 'content-length');
  // No Transfer-Encoding: chunked; the body ends when the connection closes.
  if (!hasLength) res.useChunkedEncodingByDefault = false;
  res.writeHead(200, 'OK', { Connection: 'close', 'Cache-Control': NO_CACHE, ...headers });
  // Out now: uploaders (xe, Xen Orchestra) wait for the status line before sending the body.
  res.flushHeaders();
}
