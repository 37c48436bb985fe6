// N whole Berth hosts on one machine, for multi-host tests and bench:pool. Each host is a network
// namespace (loopback up, eth0 = 10.213.<octet>.<i>/24) holding its own agent and manager as real
// processes with their own state directory, agent socket, run directory, QEMU id range and UTS
// hostname; the hosts' eth0s are veth pairs to a bridge in a "switch" namespace of its own, so the
// machine's network configuration is never touched (docs/testing.md "Multi-host harness").
//
// The test process stays in the root namespace and reaches host i's manager through a Unix socket
// (`apiSocket`): a socat inside host i's namespace accepts there (the filesystem is shared across
// network namespaces) and connects to <address>:80, so the manager sees an ordinary TCP client on
// the host network. Clients that must run on a host (a slave redirecting to its master, another
// host's address) run inside the namespace with `exec`/`spawn`.
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { XenApiClient } from '../../src/clients/sdk/client.js';
import { type RunResult, run } from '../../src/shared/exec.js';
import {
  alive,
  createNetwork,
  deleteNetwork,
  freeOctet,
  ip,
  layout,
  linkCommand,
  listNamespaces,
  type NetLayout,
  NS_PREFIX,
  namespacePids,
  sweepStale,
} from './netns.js';
import { killQemusBelow } from './tmp.js';

const ROOT = join(import.meta.dirname, '../..');

export interface HarnessOptions {
  /** Registers stop() with t.after. */
  t?: TestContext;
  /** Run the compiled tree (dist/, `npm run build` first) instead of src/ under tsx. */
  built?: boolean;
  /** Manager HTTP port inside each namespace (default 80, xapi's). */
  httpPort?: number;
  /** HTTPS on 443 (default off: a self-signed certificate per host costs start-up time). */
  https?: boolean;
  /** The test guest for the default template (--guest-dir); default: none. */
  guestDir?: string;
  /** Let the manager set up host networking (default off: no bridges inside the namespaces). */
  networking?: boolean;
  /** BERTH_LOG_LEVEL of the daemons (default info); their output goes to <dir>/<host>/*.log. */
  logLevel?: string;
  /** Extra flags for host i's agent / manager (another slice's options, e.g. a TCP listener). */
  agentArgs?: (h: PoolHost) => string[];
  managerArgs?: (h: PoolHost) => string[];
  /** Extra environment for both daemons. */
  env?: NodeJS.ProcessEnv;
  /** How long one daemon may take to answer after starting (default 60 s). */
  startTimeoutMs?: number;
  /** How many hosts start at once (default 4: 16 managers starting together starve a small machine). */
  startConcurrency?: number;
}

export type Daemon = 'agent' | 'manager';

export interface PoolHost {
  /** 1-based. */
  index: number;
  /** The namespace's hostname (UTS), e.g. berth-213-h1. */
  hostname: string;
  ns: string;
  address: string;
  dir: string;
  dataDir: string;
  agentSocket: string;
  runDir: string;
  logDir: string;
  /** The manager's local socket (password-less superuser). */
  localSocket: string;
  /** Forwarded to <address>:<httpPort> inside the namespace. */
  apiSocket: string;
  httpPort: number;
  /** BERTH_QEMU_IDS of this host's agent. */
  qemuIds: string;
  rootPassword(): string;
  pid(which: Daemon): number | undefined;
  /** A JSON-RPC client logged in as root with the password, over apiSocket (closed by stop()). */
  client(): Promise<XenApiClient>;
  /** One JSON-RPC call over apiSocket, no session added. */
  call(method: string, params: unknown[]): Promise<unknown>;
  start(which: Daemon): Promise<void>;
  /** Signals the daemon (SIGKILL by default) and waits for it to exit. */
  kill(which: Daemon, signal?: NodeJS.Signals): Promise<void>;
  restart(which: Daemon): Promise<void>;
  /** Runs a command inside the host's namespace (argument array, no shell). */
  exec(cmd: string, args: string[], opts?: { timeoutMs?: number; input?: string }): Promise<RunResult>;
  /**
   * Runs `xe` inside this host's namespace against `target`'s address (default this host) over
   * plain HTTP, as root with the target's password file.
   */
  xe(args: string[], target?: PoolHost): Promise<RunResult>;
  /** Starts a long-running process inside the namespace (stdio/IPC as in child_process.spawn). */
  spawn(cmd: string, args: string[], opts?: SpawnOptions): ChildProcess;
}

export interface Harness {
  id: string;
  /** 10.213.<octet>.0/24 */
  subnet: string;
  switchNs: string;
  dir: string;
  hosts: PoolHost[];
  /** Stops every process, removes the namespaces (and with them every veth and the bridge) and dir. */
  stop(): Promise<void>;
  /** What of this instance still exists (namespaces, live pids, the directory); [] once stopped. */
  leftovers(): Promise<string[]>;
  /** Cuts host h off the others (its switch port down: packets dropped silently, netns.ts). */
  cutLink(h: PoolHost): Promise<void>;
  /** Plugs host h back in after cutLink. */
  restoreLink(h: PoolHost): Promise<void>;
}

/** QEMU ids for host i of the instance on `octet`: 256 ids apart from every other host's (pure). */
export function qemuIdRange(octet: number, index: number): string {
  return `${1_910_000_000 + (octet * 256 + index) * 256}:256`;
}

/** The prefix `ip netns exec` + a private UTS namespace with its own hostname, then `argv` (pure). */
export function inNamespace(ns: string, hostname: string, argv: string[]): string[] {
  return [
    'netns',
    'exec',
    ns,
    'unshare',
    '--uts',
    '/bin/sh',
    '-c',
    'hostname "$0" && exec "$@"',
    hostname,
    ...argv,
  ];
}

/** Octets held by this process's harnesses (names also carry the pid, so other processes never clash). */
const octetsInUse = new Set<number>();

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

async function until(what: string, ms: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const connects = (path: string) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

/** Runs `f` over `items`, at most `width` at a time. */
async function inBatches<T>(items: T[], width: number, f: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < items.length; i = next++) await f(items[i]);
  };
  await Promise.all(Array.from({ length: Math.max(1, width) }, lane));
}

function exited(p: ChildProcess): Promise<void> {
  return p.exitCode !== null || p.signalCode !== null
    ? Promise.resolve()
    : new Promise((r) => p.once('exit', () => r()));
}

/** Removes the directories of harnesses whose process is gone (after sweepStale took their namespaces). */
function sweepStaleDirs(): void {
  for (const name of readdirSync(tmpdir())) {
    const pid = Number(/^berth-harness-(\d+)-\d+-/.exec(name)?.[1]);
    if (!pid || pid === process.pid || alive(pid)) continue;
    killQemusBelow(join(tmpdir(), name), 4);
    rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
}

export async function startHosts(n: number, opts: HarnessOptions = {}): Promise<Harness> {
  await sweepStale();
  sweepStaleDirs();
  // Octets of this process's live harnesses count as taken before their namespaces exist.
  const taken = [...octetsInUse].map((o) => `${NS_PREFIX}${process.pid}-${o}-sw`);
  const octet = freeOctet([...(await listNamespaces()), ...taken], Math.floor(Math.random() * 256));
  octetsInUse.add(octet);
  const l: NetLayout = layout(process.pid, octet, n);
  const dir = mkdtempSync(join(tmpdir(), `berth-harness-${l.id}-`));
  const procs = new Map<string, ChildProcess>();
  const clients: XenApiClient[] = [];
  let stopped = false;
  const startTimeoutMs = opts.startTimeoutMs ?? 60_000;
  const httpPort = opts.httpPort ?? 80;
  const script = (name: string) =>
    opts.built ? [join(ROOT, 'dist', name.replace(/\.ts$/, '.js'))] : ['--import', 'tsx', join(ROOT, name)];

  const daemonEnv = (h: PoolHost): NodeJS.ProcessEnv => ({
    ...process.env,
    BERTH_ACCEL: 'tcg',
    BERTH_LOG_LEVEL: opts.logLevel ?? 'info',
    BERTH_NETWORKING: opts.networking ? '1' : '0',
    BERTH_QEMU_IDS: h.qemuIds,
    ...opts.env,
  });

  const argvOf = (h: PoolHost, which: Daemon): string[] => {
    if (which === 'agent')
      return [
        process.execPath,
        ...script('src/agent/main.ts'),
        '--socket',
        h.agentSocket,
        '--run-dir',
        h.runDir,
        '--log-dir',
        join(h.logDir, 'vms'),
        '--state-root',
        h.dir,
        // The pool master reaches this agent over TCP with mutual TLS; the manager shares the dir.
        '--pki-dir',
        join(h.dataDir, 'pki'),
        '--listen-tcp',
        `${h.address}:1811`,
        ...(opts.agentArgs?.(h) ?? []),
      ];
    return [
      process.execPath,
      '--max-semi-space-size=64', // as scripts/berth-up.sh starts it
      ...script('src/manager/main.ts'),
      '--data-dir',
      h.dataDir,
      '--http-port',
      String(httpPort),
      '--https-port',
      opts.https ? '443' : 'off',
      '--socket',
      h.localSocket,
      '--xapi-local-links',
      'off',
      '--agent-socket',
      h.agentSocket,
      '--auth-failure-delay-ms',
      '10',
      ...(opts.guestDir ? ['--guest-dir', opts.guestDir] : []),
      ...(opts.managerArgs?.(h) ?? []),
    ];
  };

  /** Starts `argv` in host h's namespace under its hostname, output appended to <dir>/log/<name>.log. */
  const launch = (h: PoolHost, name: string, argv: string[], env: NodeJS.ProcessEnv): ChildProcess => {
    const out = openSync(join(h.logDir, `${name}.log`), 'a');
    try {
      const p = spawn('ip', inNamespace(h.ns, h.hostname, argv), {
        cwd: ROOT,
        env,
        stdio: ['ignore', out, out],
      });
      p.on('error', () => undefined);
      // No daemon outlives the test process, whatever happened to its hooks (`ip netns exec`
      // execs the daemon: this pid is the daemon's).
      const killOnExit = () => p.kill('SIGKILL');
      process.once('exit', killOnExit);
      p.once('exit', () => process.off('exit', killOnExit));
      return p;
    } finally {
      closeSync(out);
    }
  };

  const makeHost = (i: number): PoolHost => {
    const hdir = join(dir, `h${i + 1}`);
    const key = (which: string) => `${i}:${which}`;
    const h: PoolHost = {
      index: i + 1,
      hostname: `berth-${l.octet}-h${i + 1}`,
      ns: l.hostNs[i],
      address: l.addresses[i],
      dir: hdir,
      dataDir: join(hdir, 'data'),
      agentSocket: join(hdir, 'agent', 'agent.sock'),
      runDir: join(hdir, 'run'),
      logDir: join(hdir, 'log'),
      localSocket: join(hdir, 'xapi.sock'),
      apiSocket: join(hdir, 'api.sock'),
      httpPort,
      qemuIds: qemuIdRange(l.octet, i + 1),
      rootPassword: () => readFileSync(join(h.dataDir, 'root-password'), 'utf8').trim(),
      pid: (which) => {
        const p = procs.get(key(which));
        return p && p.exitCode === null && p.signalCode === null ? p.pid : undefined;
      },
      async client() {
        const c = new XenApiClient({ socketPath: h.apiSocket, timeoutMs: 120_000 });
        clients.push(c);
        await c.login('root', h.rootPassword(), 'berth-harness');
        return c;
      },
      async call(method, params) {
        const c = new XenApiClient({ socketPath: h.apiSocket, timeoutMs: 120_000 });
        try {
          return await c.raw(method, params);
        } finally {
          c.close();
        }
      },
      async start(which) {
        if (stopped) throw new Error('harness stopped');
        if (h.pid(which)) throw new Error(`${h.hostname}: ${which} already runs`);
        procs.set(key(which), launch(h, which, argvOf(h, which), daemonEnv(h)));
        const p = procs.get(key(which))!;
        const died = exited(p).then(() => {
          // The log goes with the harness directory: its end goes into the error.
          let tail = '';
          try {
            tail = readFileSync(join(h.logDir, `${which}.log`), 'utf8')
              .split('\n')
              .slice(-15)
              .join('\n');
          } catch {
            /* no log */
          }
          throw new Error(`${h.hostname}: ${which} exited (code ${p.exitCode}):\n${tail}`);
        });
        died.catch(() => undefined);
        const ready =
          which === 'agent'
            ? until(`${h.hostname} agent`, startTimeoutMs, () => connects(h.agentSocket))
            : until(`${h.hostname} manager`, startTimeoutMs, async () => {
                // Answered over TCP (a slave serves system.listMethods, not logins); the manager
                // listens only after its first start has written the root password.
                const c = new XenApiClient({ socketPath: h.apiSocket, timeoutMs: 10_000 });
                try {
                  await c.raw('system.listMethods', []);
                  return existsSync(join(h.dataDir, 'root-password'));
                } finally {
                  c.close();
                }
              });
        await Promise.race([ready, died]);
      },
      async kill(which, signal = 'SIGKILL') {
        const p = procs.get(key(which));
        if (!p || !h.pid(which)) return;
        p.kill(signal);
        await exited(p);
      },
      async restart(which) {
        await h.kill(which, 'SIGTERM');
        await h.start(which);
      },
      exec(cmd, args, o = {}) {
        return run('ip', inNamespace(h.ns, h.hostname, [cmd, ...args]), { timeoutMs: 60_000, ...o });
      },
      xe(args, target = h) {
        const xe = opts.built
          ? [join(ROOT, 'dist/src/clients/xe/main.js')]
          : ['--import', 'tsx', join(ROOT, 'src/clients/xe/main.ts')];
        const server = ['-s', target.address, '-p', String(target.httpPort), '--nossl'];
        // xe's password file: user on the first line, password on the second (as xapi's xe).
        const pwf = join(target.dir, 'xe-password');
        writeFileSync(pwf, `root\n${target.rootPassword()}\n`, { mode: 0o600 });
        const auth = ['-pwf', pwf];
        return h.exec(process.execPath, [...xe, ...args, ...server, ...auth]);
      },
      spawn(cmd, args, o = {}) {
        return spawn('ip', inNamespace(h.ns, h.hostname, [cmd, ...args]), { cwd: ROOT, ...o });
      },
    };
    for (const d of [hdir, h.dataDir, join(hdir, 'agent'), h.runDir, h.logDir]) mkdirSync(d, { mode: 0o700 });
    return h;
  };

  const harness: Harness = {
    id: l.id,
    subnet: `10.213.${l.octet}.0/24`,
    switchNs: l.switchNs,
    dir,
    hosts: [],
    async stop() {
      if (stopped) return;
      stopped = true;
      for (const c of clients) c.close();
      // Orderly first (the daemons flush and close their sockets), then whatever is left.
      const all = [...procs.values()].filter((p) => p.exitCode === null && p.signalCode === null);
      for (const p of all) p.kill('SIGTERM');
      await Promise.race([Promise.all(all.map(exited)), sleep(5000)]);
      for (const p of all) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
      await Promise.all(all.map(exited));
      killQemusBelow(dir, 4);
      await deleteNetwork(l); // SIGKILLs anything still in a namespace (socat, QEMU)
      rmSync(dir, { recursive: true, force: true, maxRetries: 3, retryDelay: 100 });
      octetsInUse.delete(l.octet);
    },
    async leftovers() {
      const left: string[] = [];
      const mine = (await listNamespaces()).filter((ns) => ns.startsWith(`${NS_PREFIX}${l.id}-`));
      left.push(...mine.map((ns) => `namespace ${ns}`));
      for (const ns of mine) left.push(...(await namespacePids(ns)).map((pid) => `pid ${pid} in ${ns}`));
      for (const p of procs.values())
        if (p.exitCode === null && p.signalCode === null) left.push(`process ${p.pid}`);
      if (existsSync(dir)) left.push(`directory ${dir}`);
      return left;
    },
    async cutLink(h) {
      await ip(linkCommand(l, h.index, false));
    },
    async restoreLink(h) {
      await ip(linkCommand(l, h.index, true));
    },
  };
  opts.t?.after(() => harness.stop());

  try {
    await createNetwork(l);
    harness.hosts = l.hostNs.map((_, i) => makeHost(i));
    for (const h of harness.hosts)
      procs.set(
        `${h.index - 1}:forwarder`,
        launch(
          h,
          'forwarder',
          ['socat', `UNIX-LISTEN:${h.apiSocket},fork,mode=600,backlog=256`, `TCP:${h.address}:${httpPort}`],
          process.env,
        ),
      );
    await inBatches(harness.hosts, opts.startConcurrency ?? 4, (h) => h.start('agent'));
    await inBatches(harness.hosts, opts.startConcurrency ?? 4, (h) => h.start('manager'));
  } catch (e) {
    await harness.stop();
    throw e;
  }
  return harness;
}

/** Whether `host` is live as client `c`'s pool sees it (host_metrics.live). */
export async function hostLive(c: XenApiClient, host: string): Promise<boolean> {
  return Boolean(await c.call('host_metrics.get_live', await c.call('host.get_metrics', host)));
}

/** The command line of the QEMU for `uuid` under host h's agent, or undefined when none runs. */
export function qemuCmdline(h: PoolHost, uuid: string): string | undefined {
  const file = join(h.runDir, uuid, 'qemu.pid');
  if (!existsSync(file)) return undefined;
  try {
    const cmd = readFileSync(`/proc/${readFileSync(file, 'utf8').trim()}/cmdline`, 'utf8');
    return cmd.includes(uuid) ? cmd.replaceAll('\0', ' ') : undefined;
  } catch {
    return undefined;
  }
}
