// Client side of the agent RPC (used by the manager): procedure calls over the agent's Unix
// socket or, for another host's agent, TCP with mutual TLS (transport.ts), and the push channel
// with reconnection. After every (re)connection of the push channel
// `onConnect` listeners run: the manager re-reads all_instances_info then, to reconcile.
import { EventEmitter } from 'node:events';
import { XenApiError } from '../errors.js';
import type {
  DiskSpec,
  HotplugAction,
  HotplugDevType,
  InstanceEvent,
  InstanceInfo,
  InstanceSpec,
  NicSpec,
} from './instance.js';
import { AgentError, decodeReply, EVENTS_WATCH } from './protocol.js';
import { type RpcClass, procedureTimeout } from './timeouts.js';
import { AgentEndpoint, type AgentTransport, describeTransport } from './transport.js';

export interface ClientOptions {
  /** Durations of the RPC timeout classes (timeouts.ts), to shorten or lengthen them. */
  classTimeoutsMs?: Partial<Record<RpcClass, number>>;
  /** Maximum backoff between push-channel reconnections. */
  maxBackoffMs?: number;
  /**
   * The push channel is dropped and reopened when nothing (event or heartbeat line) arrived for
   * this long: a host that vanished without closing its connections is noticed.
   */
  watchIdleMs?: number;
}

/** Default watchIdleMs: three of the agent's heartbeats (server.ts HEARTBEAT_MS). */
export const WATCH_IDLE_MS = 30_000;

/** Parses newline-delimited JSON events; incomplete trailing data is kept for the next chunk. */
export class EventLineParser {
  private buf = '';
  push(chunk: string): InstanceEvent[] {
    this.buf += chunk;
    const out: InstanceEvent[] = [];
    for (let nl = this.buf.indexOf('\n'); nl >= 0; nl = this.buf.indexOf('\n')) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (!line) continue;
      try {
        const e = JSON.parse(line) as InstanceEvent;
        if (e && typeof e.uuid === 'string' && typeof e.state === 'string') out.push(e);
      } catch {
        /* a corrupt line is dropped; reconciliation after reconnect covers any loss */
      }
    }
    return out;
  }
}

export class AgentClient extends EventEmitter {
  private readonly endpoint: AgentEndpoint;
  private watchReq?: ReturnType<AgentEndpoint['post']>;
  private watching = false;
  private live = false;
  private retryTimer?: NodeJS.Timeout;

  /** `transport`: a Unix socket path (the local agent) or an AgentTransport. */
  constructor(
    transport: string | AgentTransport,
    private readonly opts: ClientOptions = {},
  ) {
    super();
    this.endpoint = new AgentEndpoint(transport);
  }

  get transport(): AgentTransport {
    return this.endpoint.transport;
  }

  /** True while the push channel is connected. */
  get connected(): boolean {
    return this.live;
  }

  /**
   * Calls a procedure, waiting at most `timeoutMs` (default: its class's, timeouts.ts). Rejects
   * with the agent's XenApiError, an AgentError for other failures (timeout included), or
   * XenApiError CANNOT_CONTACT_HOST when the agent cannot be reached or authenticated.
   */
  call<T = unknown>(
    procedure: string,
    args: unknown[] = [],
    timeoutMs = procedureTimeout(procedure, this.opts.classTimeoutsMs),
  ): Promise<T> {
    const body = JSON.stringify(args);
    return new Promise<T>((resolve, reject) => {
      const req = this.endpoint.post(
        procedure,
        { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
        true,
      );
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          clearTimeout(timer);
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) {
            reject(new AgentError(procedure, `HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
            return;
          }
          try {
            resolve(decodeReply(procedure, text) as T);
          } catch (e) {
            reject(e);
          }
        });
      });
      const timer = setTimeout(
        () => req.destroy(new AgentError(procedure, `timed out after ${timeoutMs} ms`)),
        timeoutMs,
      );
      req.on('error', (e) => {
        clearTimeout(timer);
        reject(
          e instanceof AgentError
            ? e
            : new XenApiError('CANNOT_CONTACT_HOST', [
                `agent ${describeTransport(this.transport)}: ${e.message}`,
              ]),
        );
      });
      req.end(body);
    });
  }

  /**
   * Opens the push channel and keeps it open, reconnecting with backoff. Emits 'event'
   * (InstanceEvent), 'connect' after every (re)connection and 'disconnect' when it drops.
   */
  watch() {
    if (this.watching) return;
    this.watching = true;
    let delay = 50;
    const max = this.opts.maxBackoffMs ?? 2000;
    const retry = () => {
      if (this.live) {
        this.live = false;
        this.emit('disconnect');
      }
      if (!this.watching || this.retryTimer) return;
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        open();
      }, delay);
      delay = Math.min(delay * 2, max);
    };
    const idleMs = this.opts.watchIdleMs ?? WATCH_IDLE_MS;
    const open = () => {
      if (!this.watching) return;
      const req = this.endpoint.post(EVENTS_WATCH, { 'Content-Type': 'application/json' }, false);
      this.watchReq = req;
      req.on('response', (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          retry();
          return;
        }
        delay = 50;
        this.live = true;
        this.emit('connect');
        const parser = new EventLineParser();
        // Events and the agent's blank heartbeat lines keep the channel alive; silence drops it.
        let idle = setTimeout(() => req.destroy(), idleMs);
        res.on('close', () => clearTimeout(idle));
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          clearTimeout(idle);
          idle = setTimeout(() => req.destroy(), idleMs);
          for (const e of parser.push(chunk)) this.emit('event', e);
        });
        res.on('close', retry);
        res.on('error', retry);
      });
      req.on('error', retry);
      req.end('[]');
    };
    open();
  }

  close() {
    this.watching = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.live = false;
    this.watchReq?.destroy();
    this.endpoint.destroy();
  }

  // Typed wrappers (Ganeti's names where they overlap; payloads in docs/agent.md).
  version() {
    return this.call<{ protocol: number; berth: string; accel: string; qemu: string }>('version');
  }
  nodeInfo() {
    return this.call<Record<string, unknown>>('node_info');
  }
  start(spec: InstanceSpec) {
    return this.call<InstanceInfo>('instance_start', [spec]);
  }
  shutdown(uuid: string, clean: boolean, timeoutMs: number) {
    return this.call<null>('instance_shutdown', [uuid, clean, timeoutMs], timeoutMs + 30_000);
  }
  reboot(uuid: string, clean: boolean, timeoutMs: number) {
    return this.call<InstanceInfo>('instance_reboot', [uuid, clean, timeoutMs], timeoutMs + 60_000);
  }
  pause(uuid: string) {
    return this.call<null>('instance_pause', [uuid]);
  }
  unpause(uuid: string) {
    return this.call<null>('instance_unpause', [uuid]);
  }
  suspend(uuid: string, path: string) {
    return this.call<null>('instance_suspend', [uuid, path]);
  }
  resume(spec: InstanceSpec, path: string) {
    return this.call<InstanceInfo>('instance_resume', [spec, path]);
  }
  hotplug(
    uuid: string,
    action: HotplugAction,
    devType: HotplugDevType,
    device: DiskSpec | NicSpec,
    timeoutMs = 30_000,
  ) {
    return this.call<null>('hotplug_device', [uuid, action, devType, device, timeoutMs], timeoutMs + 30_000);
  }
  diskResize(uuid: string, device: string, size: number) {
    return this.call<null>('instance_disk_resize', [uuid, device, size]);
  }
  balloon(uuid: string, bytes: number) {
    return this.call<null>('instance_balloon_memory', [uuid, bytes]);
  }
  info(uuid: string) {
    return this.call<InstanceInfo>('instance_info', [uuid]);
  }
  list() {
    return this.call<string[]>('instance_list');
  }
  all() {
    return this.call<InstanceInfo[]>('all_instances_info');
  }
  console(uuid: string) {
    return this.call<{ vnc?: string; vncPort?: number; serial?: string; log?: string }>('instance_console', [
      uuid,
    ]);
  }
  callPlugin(plugin: string, fn: string, args: Record<string, string>) {
    return this.call<string>('host_call_plugin', [plugin, fn, args]);
  }
}
