// One QEMU process: launch (daemonized, in its own session, so it outlives the agent), adoption
// by a restarted agent (pid file + /proc/<pid>/cmdline check + QMP reconnect), and control
// through QMP. State changes are emitted as 'state' events.
import { EventEmitter } from 'node:events';
import {
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  existsSync,
  createWriteStream,
  createReadStream,
} from 'node:fs';
import { createServer, connect } from 'node:net';
import { dirname } from 'node:path';
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { logger } from '../../shared/log.js';
import type { InstanceInfo, InstanceSpec, InstanceState } from '../../shared/noded/instance.js';
import { type LaunchOptions, qemuArgs, type RuntimePaths } from './command-line.js';
import { QmpClient, type QmpEvent } from './qmp.js';

const log = logger('qemu');

export const QEMU_BINARY = process.env.BERTH_QEMU ?? 'qemu-system-x86_64';

function readPid(path: string): number | undefined {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Is `pid` a QEMU of this VM? (guards against a recycled pid after a host reboot) */
export function isOurQemu(pid: number, uuid: string): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return (
      argv[0].includes('qemu-system') && argv.includes('-uuid') && argv[argv.indexOf('-uuid') + 1] === uuid
    );
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Waits until a Unix socket accepts connections; false if the process exits or time runs out. */
async function waitForSocket(path: string, timeoutMs: number, exited: Promise<unknown>): Promise<boolean> {
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !gone) {
    if (existsSync(path)) return true;
    await sleep(10);
  }
  return false;
}

export class QemuVm extends EventEmitter {
  state: InstanceState = 'absent';
  pid?: number;
  startedAt?: number;
  private qmp?: QmpClient;
  /** Set while the agent itself is stopping the VM (so the exit is not reported as a crash). */
  private stopping = false;

  constructor(
    readonly spec: InstanceSpec,
    readonly paths: RuntimePaths,
  ) {
    super();
  }

  info(): InstanceInfo {
    return {
      uuid: this.spec.uuid,
      state: this.state,
      pid: this.pid,
      vcpus: this.spec.vcpus,
      memoryBytes: this.spec.memoryBytes,
      startedAt: this.startedAt,
      vncSocket: this.paths.vnc,
      serialSocket: this.paths.serial,
      consoleLog: this.paths.consoleLog,
    };
  }

  private setState(state: InstanceState, reason?: string) {
    if (this.state === state) return;
    this.state = state;
    this.emit('state', state, reason);
  }

  /** Launches QEMU; resolves once QMP answers (the guest runs unless the spec says paused). */
  async launch(opts: LaunchOptions): Promise<void> {
    mkdirSync(this.paths.dir, { recursive: true, mode: 0o700 });
    mkdirSync(dirname(this.paths.consoleLog), { recursive: true, mode: 0o700 });
    for (const f of [this.paths.qmp, this.paths.serial, this.paths.vnc, this.paths.pid])
      rmSync(f, { force: true });
    writeFileSync(`${this.paths.dir}/spec.json`, JSON.stringify(this.spec));
    const args = qemuArgs(this.spec, this.paths, opts);
    // Its own session (setsid via detached) and no pipes to the agent: the VM outlives the agent.
    // (-daemonize would fork after the seccomp sandbox forbids it.)
    const errLog = `${this.paths.dir}/qemu.err`;
    const errFd = openSync(errLog, 'w', 0o600);
    const child = spawn(QEMU_BINARY, args, { detached: true, stdio: ['ignore', errFd, errFd] });
    closeSync(errFd);
    child.unref();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const ready = await waitForSocket(this.paths.qmp, 30_000, exited);
    if (!ready) {
      const why = readFileSafe(errLog).trim();
      try {
        child.kill('SIGKILL');
      } catch {
        /* gone */
      }
      rmSync(this.paths.dir, { recursive: true, force: true });
      throw new Error(`QEMU failed to start: ${why || 'no QMP socket'}`);
    }
    this.pid = child.pid;
    this.startedAt = Date.now();
    await this.attach();
    this.setState(this.spec.startPaused || opts.incoming ? 'paused' : 'running', 'started');
  }

  /** Re-attaches to a QEMU started by an earlier agent. False if it is gone. */
  async adopt(): Promise<boolean> {
    const pid = readPid(this.paths.pid);
    if (!pid || !alive(pid) || !isOurQemu(pid, this.spec.uuid)) return false;
    this.pid = pid;
    try {
      await this.attach();
      const status = await this.qmp!.command<{ status: string; running: boolean }>('query-status');
      this.state = status.running ? 'running' : 'paused';
      return true;
    } catch (e) {
      log.warn('could not re-attach to QEMU', { uuid: this.spec.uuid, error: String(e) });
      return false;
    }
  }

  private async attach() {
    const qmp = await QmpClient.connect(this.paths.qmp);
    this.qmp = qmp;
    qmp.on('event', (e: QmpEvent) => this.onEvent(e));
    qmp.once('closed', () => void this.onQmpClosed());
  }

  private onEvent(e: QmpEvent) {
    switch (e.event) {
      case 'STOP':
        if (this.state === 'running') this.setState('paused', 'stopped');
        break;
      case 'RESUME':
        this.setState('running', 'resumed');
        break;
      case 'RESET':
        this.emit('reset', e.data?.guest === true ? 'guest-reset' : 'host-reset');
        break;
      case 'GUEST_PANICKED':
        this.emit('panicked');
        break;
      default:
        break;
    }
  }

  /** QMP closes when QEMU exits (guest power-off, quit, crash, kill). */
  private async onQmpClosed() {
    for (let i = 0; i < 50 && this.pid && alive(this.pid); i++) await sleep(20);
    const reason = this.stopping ? 'stopped' : 'qemu-exited';
    this.cleanup();
    this.setState('shutdown', reason);
  }

  private cleanup() {
    this.qmp = undefined;
    rmSync(this.paths.dir, { recursive: true, force: true });
  }

  private requireQmp(): QmpClient {
    if (!this.qmp || this.qmp.closed) throw new Error(`VM ${this.spec.uuid} is not running`);
    return this.qmp;
  }

  /** Resolves when QEMU has exited, or false after `ms`. */
  waitExit(ms: number): Promise<boolean> {
    if (this.state === 'shutdown' || this.state === 'absent') return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.off('state', onState);
        resolve(false);
      }, ms);
      const onState = (s: InstanceState) => {
        if (s === 'shutdown') {
          clearTimeout(timer);
          this.off('state', onState);
          resolve(true);
        }
      };
      this.on('state', onState);
    });
  }

  /** ACPI power button, then wait; false if the guest did not power off in time. */
  async cleanShutdown(timeoutMs: number): Promise<boolean> {
    this.stopping = true;
    await this.requireQmp().command('system_powerdown');
    const done = await this.waitExit(timeoutMs);
    if (!done) this.stopping = false;
    return done;
  }

  /** quit, then SIGKILL if QEMU lingers: no QEMU outlives a hard shutdown. */
  async hardShutdown(): Promise<void> {
    this.stopping = true;
    try {
      await this.qmp?.command('quit', undefined, 5000);
    } catch {
      /* the socket closes as QEMU exits */
    }
    if (!(await this.waitExit(5000)) && this.pid) {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      await this.waitExit(5000);
    }
    if (this.state !== 'shutdown') {
      this.cleanup();
      this.setState('shutdown', 'stopped');
    }
  }

  async reset(): Promise<void> {
    await this.requireQmp().command('system_reset');
  }

  async pause(): Promise<void> {
    await this.requireQmp().command('stop');
    this.setState('paused', 'paused');
  }

  async unpause(): Promise<void> {
    await this.requireQmp().command('cont');
    this.setState('running', 'resumed');
  }

  async balloon(bytes: number): Promise<void> {
    if (!this.spec.balloon) throw new Error('this VM has no balloon device');
    await this.requireQmp().command('balloon', { value: bytes });
  }

  /**
   * Saves the device and memory state to `path` and stops QEMU. The stream goes over a Unix
   * socket the agent listens on (QEMU 7.2 has no file: URI, and exec: would need a shell).
   */
  async saveState(path: string): Promise<void> {
    const qmp = this.requireQmp();
    const sock = `${this.paths.dir}/migrate.sock`;
    rmSync(sock, { force: true });
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.partial`;
    const received = new Promise<void>((resolve, reject) => {
      const server = createServer((conn) => {
        const out = createWriteStream(tmp, { mode: 0o600 });
        conn.pipe(out);
        out.on('finish', () => {
          server.close();
          resolve();
        });
        out.on('error', reject);
      });
      server.on('error', reject);
      server.listen(sock);
    });
    await qmp.command('stop');
    await qmp.command('migrate', { uri: `unix:${sock}` });
    for (;;) {
      const s = await qmp.command<{ status?: string; 'error-desc'?: string }>('query-migrate');
      if (s.status === 'completed') break;
      if (s.status === 'failed' || s.status === 'cancelled')
        throw new Error(`saving state failed: ${s['error-desc'] ?? s.status}`);
      await sleep(50);
    }
    await received;
    const { renameSync } = await import('node:fs');
    renameSync(tmp, path);
    await this.hardShutdown();
  }

  /** Loads a saved state into a QEMU launched with -incoming defer, then runs it unless paused. */
  async loadState(path: string, paused: boolean): Promise<void> {
    const qmp = this.requireQmp();
    const sock = `${this.paths.dir}/incoming.sock`;
    rmSync(sock, { force: true });
    await qmp.command('migrate-incoming', { uri: `unix:${sock}` });
    await new Promise<void>((resolve, reject) => {
      const conn = connect(sock);
      conn.on('error', reject);
      createReadStream(path).on('error', reject).pipe(conn).on('finish', resolve);
    });
    for (;;) {
      const s = await qmp.command<{ status?: string }>('query-status');
      if (s.status === 'paused' || s.status === 'running') break;
      await sleep(50);
    }
    if (!paused) await this.unpause();
  }

  detach() {
    this.qmp?.removeAllListeners();
    this.qmp?.close();
  }
}

export function savedSpec(dir: string): InstanceSpec | undefined {
  const f = `${dir}/spec.json`;
  if (!existsSync(f)) return undefined;
  try {
    return JSON.parse(readFileSync(f, 'utf8')) as InstanceSpec;
  } catch {
    return undefined;
  }
}
