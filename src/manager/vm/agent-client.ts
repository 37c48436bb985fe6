// The manager's connection to a host agent: Ganeti-noded-style RPC (`POST /<procedure>` with a
// JSON array of positional arguments; reply `[true, payload]` or `[false, message]`) over the
// agent's root-only Unix socket, plus the agent's push channel (`POST /events_watch`, one JSON
// event per line). After every (re)connection of the push channel the manager reconciles.
import http from 'node:http';
import { XenApiError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import type { HostAgent, InstanceEvent, InstanceInfo, InstanceSpec } from './host-agent.js';

const log = logger('agent-client');

export class AgentRpcError extends Error {}

/** Maps an agent failure payload to the error the API raises. */
export function agentFailure(procedure: string, payload: unknown): Error {
  if (payload && typeof payload === 'object' && Array.isArray((payload as { xenapi?: unknown }).xenapi)) {
    const [code, ...params] = (payload as { xenapi: string[] }).xenapi;
    return new XenApiError(String(code), params.map(String));
  }
  return new XenApiError('INTERNAL_ERROR', [
    `agent ${procedure}: ${typeof payload === 'string' ? payload : JSON.stringify(payload)}`,
  ]);
}

export class NodedAgentClient implements HostAgent {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  private readonly eventListeners = new Set<(e: InstanceEvent) => void>();
  private readonly reconnectListeners = new Set<() => void>();
  private watchReq?: http.ClientRequest;
  private closed = false;
  private live = false;

  constructor(private readonly socketPath: string) {}

  get connected(): boolean {
    return this.live;
  }

  /** Calls a procedure; rejects with the agent's error mapped to a XenApiError. */
  call<T = unknown>(procedure: string, args: unknown[] = [], timeoutMs = 300_000): Promise<T> {
    const body = JSON.stringify(args);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          path: `/${procedure}`,
          method: 'POST',
          agent: this.agent,
          headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            try {
              const reply = JSON.parse(Buffer.concat(chunks).toString('utf8'));
              if (!Array.isArray(reply) || reply.length !== 2)
                throw new AgentRpcError(`malformed reply to ${procedure}`);
              if (reply[0] === true) resolve(reply[1] as T);
              else reject(agentFailure(procedure, reply[1]));
            } catch (e) {
              reject(e);
            }
          });
        },
      );
      req.on('timeout', () => req.destroy(new AgentRpcError(`agent ${procedure} timed out`)));
      req.on('error', (e) => reject(new XenApiError('CANNOT_CONTACT_HOST', [`agent: ${e.message}`])));
      req.end(body);
    });
  }

  /** Opens the push channel and keeps it open (reconnecting with backoff). */
  connect() {
    let delay = 100;
    const open = () => {
      if (this.closed) return;
      const req = http.request({
        socketPath: this.socketPath,
        path: '/events_watch',
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
      });
      this.watchReq = req;
      req.on('response', (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return;
        }
        this.live = true;
        delay = 100;
        for (const l of this.reconnectListeners) l();
        let buf = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buf += chunk;
          for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
            const line = buf.slice(0, nl).trim();
            buf = buf.slice(nl + 1);
            if (!line) continue;
            try {
              const e = JSON.parse(line) as InstanceEvent;
              if (e && typeof e.uuid === 'string') for (const l of this.eventListeners) l(e);
            } catch {
              log.warn('unparsable agent event', { line: line.slice(0, 200) });
            }
          }
        });
        res.on('close', retry);
      });
      req.on('error', retry);
      req.end('[]');
    };
    let retrying = false;
    const retry = () => {
      if (retrying) return;
      retrying = true;
      this.live = false;
      if (this.closed) return;
      setTimeout(() => {
        retrying = false;
        open();
      }, delay).unref();
      delay = Math.min(delay * 2, 5000);
    };
    open();
  }

  onEvent(listener: (e: InstanceEvent) => void) {
    this.eventListeners.add(listener);
  }

  onReconnect(listener: () => void) {
    this.reconnectListeners.add(listener);
  }

  close() {
    this.closed = true;
    this.live = false;
    this.watchReq?.destroy();
    this.agent.destroy();
  }

  // ---------- HostAgent, in Ganeti's procedure names where they exist ----------

  version() {
    return this.call('version');
  }
  start(spec: InstanceSpec) {
    return this.call<InstanceInfo>('instance_start', [spec]);
  }
  shutdown(uuid: string, clean: boolean, timeoutMs: number) {
    return this.call<void>('instance_shutdown', [uuid, clean, timeoutMs], timeoutMs + 30_000);
  }
  reboot(uuid: string, clean: boolean, timeoutMs: number) {
    return this.call<void>('instance_reboot', [uuid, clean, timeoutMs], timeoutMs + 30_000);
  }
  pause(uuid: string) {
    return this.call<void>('instance_pause', [uuid]);
  }
  unpause(uuid: string) {
    return this.call<void>('instance_unpause', [uuid]);
  }
  suspend(uuid: string, path: string) {
    return this.call<void>('instance_suspend', [uuid, path]);
  }
  resume(spec: InstanceSpec, path: string) {
    return this.call<InstanceInfo>('instance_resume', [spec, path]);
  }
  balloon(uuid: string, bytes: number) {
    return this.call<void>('instance_balloon_memory', [uuid, bytes]);
  }
  info(uuid: string) {
    return this.call<InstanceInfo>('instance_info', [uuid]);
  }
  all() {
    return this.call<InstanceInfo[]>('all_instances_info');
  }
  callPlugin(plugin: string, fn: string, args: Record<string, string>) {
    return this.call<string>('host_call_plugin', [plugin, fn, args]);
  }
}
