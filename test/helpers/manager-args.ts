// The command line of a manager started by tests, benchmarks and tools: plain HTTP on loopback
// only, no HTTPS, its own data directory and local socket, and optionally a host agent.
export interface LocalManagerOptions {
  dataDir: string;
  port: number;
  socket: string;
  agentSocket?: string;
  guestDir?: string;
  /** Failed logins answer after 10 ms instead of xapi's 5 s (tests that expect failures). */
  fastAuthFailures?: boolean;
  /** The NBD server's port (default: off, so parallel tests never contend for 10809). */
  nbdPort?: number;
}

export function localManagerArgs(o: LocalManagerOptions): string[] {
  const args = ['--data-dir', o.dataDir, '--listen', '127.0.0.1', '--http-port', String(o.port)];
  args.push('--https-port', 'off', '--socket', o.socket);
  if (o.agentSocket !== undefined) args.push('--agent-socket', o.agentSocket);
  if (o.guestDir !== undefined) args.push('--guest-dir', o.guestDir);
  if (o.fastAuthFailures) args.push('--auth-failure-delay-ms', '10');
  args.push('--nbd-port', o.nbdPort === undefined ? 'off' : String(o.nbdPort));
  return args;
}
