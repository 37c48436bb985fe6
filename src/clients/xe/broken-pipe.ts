// A reader that goes away (`xe help --all | head`) must end xe quietly, as SIGPIPE ends an
// ordinary Unix tool: Node ignores SIGPIPE, so the write fails with EPIPE, which would otherwise
// surface as an unhandled 'error' event and a stack trace.

/** Exit status of a process killed by SIGPIPE, as a shell reports it (128 + 13). */
export const SIGPIPE_STATUS = 141;

/** On EPIPE from `stream`, calls `exit` (once) instead of throwing; other errors still throw. */
export function exitQuietlyOnBrokenPipe(stream: NodeJS.WritableStream, exit: (code: number) => void): void {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') exit(SIGPIPE_STATUS);
    else throw e;
  });
}
