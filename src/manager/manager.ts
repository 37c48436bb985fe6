// Assembles the manager: database, services, first-start objects, dispatcher and listeners.
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { MODEL } from '../shared/datamodel/generated/model.js';
import { readHostFacts, type HostFacts } from '../shared/host-facts.js';
import { logger } from '../shared/log.js';
import type { HandlerTable, Services } from './api/context.js';
import { eventApi } from './api/event.js';
import { hostApi } from './api/host.js';
import { hostOsApi } from './api/host-os.js';
import { hostEvacuateApi } from './api/host-evacuate.js';
import { hostOpsApi } from './api/host-ops.js';
import { consoleApi } from './api/console.js';
import { linkXapiLocal, unlinkXapiLocal } from './http/xapi-local-link.js';
import { messageApi } from './api/message.js';
import { networkingApi } from './api/network.js';
import { roleApi } from './api/role.js';
import { autoEnableAtStart } from './api/host-enable.js';
import { sessionApi } from './api/session.js';
import { setterApi } from './api/setters.js';
import { storageApi } from './api/sm.js';
import { storageResourceApi } from './api/storage-resource.js';
import { masterIpApi } from './api/master-ip.js';
import { masterIpKeeper } from './master-ip/keeper.js';
import { nodeStorageApi } from './api/node-storage.js';
import { subjectApi } from './api/subject.js';
import { externalAuthApi } from './api/external-auth.js';
import { taskApi } from './api/task.js';
import { rollBackUnfinishedCopies, vmApi } from './api/vm.js';
import { withHooks } from './hooks/run-hooks.js';
import { hooksApi } from './api/hooks.js';
import { vmStorageMigrateApi } from './api/vm-storage-migrate.js';
import { vmSnapshotApi } from './api/vm-snapshot.js';
import { placementApi } from './api/placement.js';
import { vmMigrateApi } from './api/vm-migrate.js';
import { nbdApi } from './nbd/api.js';
import { type NbdServer, nbdPoolRoutes, startNbdServer } from './nbd/index.js';
import { DEFAULT_SESSION_LIMITS, SessionManager, type SessionLimits } from './auth/sessions.js';
import { UserStore } from './auth/users.js';
import { ensurePoolAndHost, ensureRootUser, syncRoles } from './bootstrap/first-start.js';
import { ensureDefaultTemplates } from './bootstrap/templates.js';
import type { ManagerConfig } from './config.js';
import { Database } from './db/database.js';
import { SqliteBackend } from './db/sqlite-backend.js';
import { EventService } from './events/event-service.js';
import { createCliHandler } from './cli/handler.js';
import { mountExportHandlers } from './http/data/export-vm.js';
import { managerCliApi } from './cli/manager-api.js';
import { consoleConnectHandler, consoleWebSocketHandler } from './http/console.js';
import { catalogDescribe } from './stats/prometheus/describe.js';
import { mountMetrics } from './stats/prometheus/handler.js';
import { HttpFrontend } from './http/server.js';
import { Dispatcher } from './rpc/dispatcher.js';
import { rpcEndpoints, taskResultXml, XmlEncoders } from './rpc/endpoints.js';
import { clearDeadOperations } from './tasks/dead-operations.js';
import { DEFAULT_TASK_LIMITS, TaskManager, type TaskLimits } from './tasks/task-manager.js';
import {
  openStorage,
  prepareStorage,
  type StartupReport,
  startWhenConnected,
  type StorageOptions,
} from './storage/startup.js';
import { followHostAgent, type NetworkingOptions, openNetworking } from './network/setup.js';
import { HostRegistry } from './hosts/registry.js';
import { poolApi } from './api/pool.js';
import { poolRoutes } from './pool/endpoints.js';
import type { HostConnector } from './pool/members.js';
import { readLocalhostUuid, readRole, writeLocalhostUuid } from './pool/role.js';
import { PoolPki } from './pool/pki.js';
import { PoolService } from './pool/service.js';
import { NodedAgentClient } from './hosts/host-client.js';
import type { HostAgent } from './vm/host-agent.js';
import { VmCopyJournal } from './vm/copy-journal.js';
import { MigrationJournal, settlePeriodically } from './vm/migration-recovery.js';
import { attachAgent } from './vm/reconcile.js';
import { clearStaleReservations } from './vm/reservation.js';
import { refreshAllowedOperations } from './vm/vm-state.js';
import { refreshVdiOps } from './storage/records.js';
import { mountImportHandlers } from './http/data/import.js';
import { mountStatsHandlers, statsPoolRoutes } from './stats/http/index.js';
import { ensureSelfSignedCert, loadTls } from './tls.js';
import { mountRawVdiHandlers } from './dataplane/raw-vdi.js';
import { dataSourceApi } from './api/data-sources.js';
import { FileRrdArchive } from './stats/archive.js';
import { followVmRrds } from './stats/hooks.js';
import { startMetricsFields } from './stats/metrics-fields.js';
import { createMessage } from './api/message.js';
import {
  type StorageRuntime,
  type StorageRuntimeOptions,
  startStorageRuntime,
} from './storage-resources/runtime/storage-runtime.js';
import type { AgentFeed } from './storage-resources/agent-feed/feed.js';
import { parseAgentRoot } from './storage-resources/agent-feed/roots.js';
import { type AgentFeedStartOptions, startAgentFeed } from './storage-resources/agent-feed/start.js';
import { MasterStorageRuntime } from './storage-resources/runtime/master-runtime.js';

const log = logger('manager');

/** Default of StorageOptions.waitMs. */
const STORAGE_WAIT_MS = Number(process.env.BERTH_STORAGE_WAIT_MS ?? 15_000);

/** Every API module; each contributes handlers for the messages it implements. */
export const API_MODULES: HandlerTable[] = [
  sessionApi,
  eventApi,
  taskApi,
  roleApi,
  subjectApi,
  externalAuthApi,
  messageApi,
  consoleApi,
  hostApi,
  hostEvacuateApi,
  hostOpsApi,
  vmApi,
  vmSnapshotApi,
  vmStorageMigrateApi,
  placementApi,
  vmMigrateApi,
  storageApi,
  networkingApi,
  setterApi,
  poolApi,
  nbdApi,
  dataSourceApi,
  storageResourceApi,
  nodeStorageApi,
  hooksApi,
  hostOsApi,
  masterIpApi,
];

export interface ManagerOptions {
  /** Storage plugins and their scan daemon (master only); false: off; else test overrides. */
  storageResources?: false | Pick<StorageRuntimeOptions, 'timers' | 'scanTimeoutMs'>;
  /** The hosts' agent device plugins fed into the resource store (master only); false: off. */
  agentFeed?: false | AgentFeedStartOptions;
  hostFacts?: HostFacts;
  sessionLimits?: Partial<SessionLimits>;
  taskLimits?: Partial<TaskLimits>;
  /** Extra API modules (components that attach later: agent, storage, network). */
  modules?: HandlerTable[];
  /** The host agent; default: the noded RPC client on config.agentSocket. false: none (tests). */
  agent?: HostAgent | false;
  /** Networking options; false: none (tests that must not create bridges on the host). */
  networking?: NetworkingOptions | false;
  /** Storage options (default SR path or false; SR roots are the agent's). */
  storage?: Partial<StorageOptions>;
  /** Start periodic GC and heartbeat timers (default true). */
  timers?: boolean;
  /**
   * Builds the client of another pool member's agent from its host record. Default: none yet
   * (members stay offline) until the TCP + mutual-TLS transport to host.address:1811 is wired.
   */
  hostConnector?: HostConnector;
  /** How often host_metrics.live follows the member agents' connections (default 2000 ms). */
  liveIntervalMs?: number;
}

export interface Listening {
  httpPort?: number;
  httpsPort?: number;
  /** The NBD server's port (absent: off, or it could not listen). */
  nbdPort?: number;
  socketPath: string;
}

export class Manager {
  readonly db: Database;
  readonly svc: Services;
  readonly dispatcher: Dispatcher;
  readonly frontend: HttpFrontend;
  private readonly backend: SqliteBackend;
  private readonly servers: (http.Server | https.Server)[] = [];
  private nbd?: NbdServer;
  /** Stops the master's statistics work (RRD moves, metrics fields): set once it started. */
  stopStats?: () => void;
  /** Closes the statistics handlers' own agent client (a slave's). */
  private readonly closeStatsHttp: () => void;
  /** What the start-up storage scan found and fixed. */
  storageReport?: StartupReport;
  /** Starts and stops the storage runtime with the pool role (absent: storage resources off). */
  storageRuntime?: MasterStorageRuntime;

  /** The master's storage plugins, resource store and scan daemon (undefined on a slave). */
  get storageResources(): StorageRuntime | undefined {
    return this.storageRuntime?.runtime;
  }
  /** The hosts' agent device plugins feeding the resource store (master, with the runtime). */
  get agentFeed(): AgentFeed | undefined {
    return this.storageRuntime?.runtime?.agentFeed;
  }

  private constructor(
    readonly config: ManagerConfig,
    backend: SqliteBackend,
    db: Database,
    svc: Services,
    dispatcher: Dispatcher,
    encoders: XmlEncoders,
  ) {
    this.backend = backend;
    this.db = db;
    this.svc = svc;
    this.dispatcher = dispatcher;
    this.frontend = new HttpFrontend(rpcEndpoints(dispatcher, db.model, encoders), config.maxBodyBytes);
    this.frontend.mountConnect('/console', consoleConnectHandler(svc));
    const cli = createCliHandler(managerCliApi(this));
    this.frontend.mount('/cli', (req, res, conn) => cli(req, res, conn));
    this.frontend.mountUpgrade('/console', consoleWebSocketHandler(svc));
    mountMetrics(this.frontend, svc, {
      tokenFile: config.metricsTokenFile,
      describe: catalogDescribe,
      storageResources: () => this.storageResources?.store.queries.metrics(),
    });
    mountExportHandlers(this.frontend, svc);
    if (svc.pool) for (const [path, h] of Object.entries(poolRoutes(svc.pool))) this.frontend.mount(path, h);
    for (const [path, h] of Object.entries(nbdPoolRoutes(svc))) this.frontend.mount(path, h);
    mountRawVdiHandlers(this.frontend, svc);
    mountImportHandlers(this.frontend, svc);
    this.closeStatsHttp = mountStatsHandlers(this.frontend, svc, config.agentSocket);
    for (const [path, h] of Object.entries(statsPoolRoutes(svc))) this.frontend.mount(path, h);
  }

  static async open(config: ManagerConfig, opts: ManagerOptions = {}): Promise<Manager> {
    mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    const backend = new SqliteBackend(join(config.dataDir, 'berth.db'), MODEL);
    const db = new Database(MODEL, backend);
    const users = new UserStore(backend);
    syncRoles(db);
    const facts = opts.hostFacts ?? readHostFacts();
    // A slave's database is a replica of the master's: it finds itself by its own host uuid and
    // changes nothing in it at start-up (pool/role.ts).
    const isMaster = readRole(config.dataDir).kind === 'master';
    const localUuid = readLocalhostUuid(config.dataDir);
    let hostRef: string;
    if (isMaster) {
      hostRef = ensurePoolAndHost(db, facts, MODEL.apiVersion).hostRef;
      if (!localUuid) writeLocalhostUuid(config.dataDir, String(db.get('host', hostRef)!.uuid));
      autoEnableAtStart(db, hostRef, config.dataDir);
      ensureDefaultTemplates(db, config.guestDir);
    } else {
      const ref = localUuid && db.refByUuid('host', localUuid);
      if (!ref) throw new Error(`this slave's host (uuid ${localUuid}) is not in its pool database replica`);
      hostRef = ref;
    }
    const poolRef = () => db.all('pool').keys().next().value ?? '';
    await ensureRootUser(users, config.dataDir);

    const modules = [...API_MODULES, ...(opts.modules ?? [])];
    // Site hooks around the operations hooks/run-hooks.ts names (docs/hooks.md).
    const handlers = withHooks(Object.assign({}, ...modules.map((m) => ({ ...m.fromSpecs, ...m.handlers }))));
    const sessionless = Object.assign({}, ...modules.map((m) => m.sessionless ?? {}));
    const dispatcher = new Dispatcher(MODEL, handlers, sessionless);
    const events = new EventService(db, (_cls, row) => row);
    const encoders = new XmlEncoders(MODEL);
    const tasks = new TaskManager(
      db,
      () => hostRef,
      (value, wire) => taskResultXml(encoders, MODEL, wire, value),
      {
        ...DEFAULT_TASK_LIMITS,
        ...opts.taskLimits,
      },
    );
    const sessions = new SessionManager(
      db,
      users,
      () => hostRef,
      {
        ...DEFAULT_SESSION_LIMITS,
        authFailureDelayMs: config.authFailureDelayMs,
        loginPolicy: config.loginPolicy,
        ...opts.sessionLimits,
      },
      (s) => tasks.isBusySession(s),
    );
    sessions.onSessionEnd((ref) => events.sessionEnded(ref));
    const svc: Services = {
      db,
      events,
      sessions,
      tasks,
      users,
      hostRef: () => hostRef,
      hosts: new HostRegistry(() => hostRef),
      poolRef,
      call: (session, wire, args) => dispatcher.callInternal(session, wire, args),
      networking: false,
      listMethods: dispatcher.listMethods(),
      dataDir: config.dataDir,
      suspendDir: join(config.dataDir, 'suspend'),
    };
    let internal: string | undefined;
    const restart = async (vm: string) => {
      internal ??= sessions.localLogin('berth-internal');
      await dispatcher.callInternal(sessions.validate(internal), 'VM.start', [vm, false, false]);
    };
    // This host's own agent, over its Unix socket (a master's; a slave's is the master's to reach).
    const pki = new PoolPki(config.pkiDir, config.agentPort);
    const attachLocalAgent = (): HostAgent | undefined => {
      const agent = opts.agent === undefined ? new NodedAgentClient(config.agentSocket) : opts.agent;
      if (!agent) return undefined;
      attachAgent(svc, agent, restart);
      // A master's agent gets the pool certificates at every connection (first start, join, eject).
      agent.onReconnect(() => {
        if (svc.pool?.isMaster())
          pki
            .handToAgent(agent)
            .catch((e) => log.debug('agent took no pool certificate', { error: String(e) }));
      });
      if (svc.networking) followHostAgent(svc, hostRef, agent);
      if (agent instanceof NodedAgentClient) agent.connect();
      return agent;
    };
    const storageOpts: StorageOptions = { dataDir: config.dataDir, ...opts.storage };
    let created: Manager | undefined;
    let storageReport: StartupReport | undefined;
    let cleared: Map<string, string[]> | undefined;
    // Storage work runs on the host's agent: started once it is connected (below).
    const startStorage = async () => {
      const report = await openStorage(svc, storageOpts);
      // After the storage scan rolled back disk copies in flight: VMs whose copy never finished.
      for (const uuid of await rollBackUnfinishedCopies(svc))
        report.fixed.push(`removed VM ${uuid} of an unfinished clone/copy/snapshot`);
      for (const vdi of cleared?.get('VDI') ?? []) refreshVdiOps(svc, vdi);
      storageReport = report;
      if (created) created.storageReport = report;
      return report;
    };
    // A slave that becomes master (designate_new_master, emergency transition, eject) opened no
    // storage: it starts it as a master's start-up does, once its own agent is connected.
    let masterTimers = false;
    const startMasterTimers = () => {
      if (opts.timers === false || masterTimers) return;
      masterTimers = true;
      tasks.startGc();
      settlePeriodically(svc); // migrations a host did not answer for (vm/migration-recovery.ts)
      // Only a master touches the pool row (a former master's replica is the new master's to write).
      events.startHeartbeat(() => (svc.pool?.isMaster() !== false ? poolRef() : undefined));
    };
    // The master keeps stopped VMs' RRDs and moves them with their VMs (stats/hooks.ts); before
    // any agent is attached, so that the first reconnection already finds its leftovers.
    let stopStats: (() => void) | undefined;
    const startStats = () => {
      if (stopStats) return;
      // Not <dataDir>/rrd: on a host that is also the agent's state root, whose own archive is there.
      svc.rrdArchive ??= new FileRrdArchive(join(config.dataDir, 'rrd-archive'));
      const unfollow = followVmRrds(svc);
      const metrics = opts.timers === false ? undefined : startMetricsFields(svc);
      stopStats = () => {
        unfollow();
        metrics?.stop();
      };
      if (created) created.stopStats = stopStats;
    };
    const becomeMasterHere = () => {
      // Networking first: attachLocalAgent follows the agent's connections for it.
      if (opts.networking !== false && !svc.networking) openNetworking(svc, opts.networking ?? {});
      startStats();
      startMasterTimers();
      const agent = attachLocalAgent();
      void masterIpKeeper(svc).begin(); // the pool's floating address follows the role
      if (!svc.storageIntents) prepareStorage(svc, storageOpts);
      svc.vmCopyJournal ??= new VmCopyJournal(join(config.dataDir, 'vm-copies'));
      svc.migrationJournal ??= new MigrationJournal(join(config.dataDir, 'vm-migrations'));
      if (agent) void startWhenConnected(agent, startStorage, storageOpts.waitMs ?? STORAGE_WAIT_MS);
      void storageRuntime?.begin();
    };
    // Storage plugins, resource store and scan daemon: the master's, whichever host that is.
    const storageRuntime =
      opts.storageResources === false
        ? undefined
        : masterStorageRuntime(svc, join(config.dataDir, 'berth.db'), config, opts);
    // The API reads whichever runtime runs now (none on a slave, a new one after a promotion).
    Object.defineProperty(svc, 'storageResources', {
      get: () => storageRuntime?.runtime,
      configurable: true,
    });
    svc.pool = new PoolService(svc, {
      dataDir: config.dataDir,
      connector: opts.hostConnector ?? pki.connector(),
      pki: opts.hostConnector ? undefined : pki,
      liveIntervalMs: opts.liveIntervalMs ?? 2000,
      attachLocalAgent: becomeMasterHere,
      detachMasterWork: () => {
        masterIpKeeper(svc).end();
        void storageRuntime?.end();
      },
      restartVm: restart,
      ensureTemplates: () => ensureDefaultTemplates(db, config.guestDir),
    });
    dispatcher.attach(svc);
    if (!isMaster) {
      svc.pool.start();
      if (opts.timers !== false) sessions.startGc();
      created = new Manager(config, backend, db, svc, dispatcher, encoders);
      created.storageRuntime = storageRuntime;
      return created;
    }
    tasks.recoverAfterRestart();
    // Operations of tasks that died with the previous process: gone, before anything runs.
    cleared = clearDeadOperations(db, (t) => tasks.isRunning(t));
    for (const vm of cleared.get('VM') ?? []) refreshAllowedOperations(db, vm);
    clearStaleReservations(db);
    if (cleared.size)
      log.warn(
        'cleared operations of dead tasks',
        Object.fromEntries([...cleared].map(([c, l]) => [c, l.length])),
      );
    svc.vmCopyJournal = new VmCopyJournal(join(config.dataDir, 'vm-copies'));
    svc.migrationJournal = new MigrationJournal(join(config.dataDir, 'vm-migrations'));
    prepareStorage(svc, storageOpts);
    if (opts.networking !== false) openNetworking(svc, opts.networking ?? {});
    startStats();
    const self = db.mustGet('host', hostRef);
    if (!opts.hostConnector)
      await pki
        .ensure(String(self.uuid), String(self.address))
        .catch((e) => log.warn('no pool certificate for this host', { error: String(e) }));
    const agent = attachLocalAgent();
    if (agent) await startWhenConnected(agent, startStorage, storageOpts.waitMs ?? STORAGE_WAIT_MS);
    void masterIpKeeper(svc).begin();
    svc.pool.start();
    if (opts.timers !== false) sessions.startGc();
    startMasterTimers();
    const manager = new Manager(config, backend, db, svc, dispatcher, encoders);
    created = manager;
    manager.stopStats = stopStats;
    manager.storageReport = storageReport;
    manager.storageRuntime = storageRuntime;
    await storageRuntime?.begin();
    return manager;
  }

  /** Starts the HTTP, HTTPS and Unix-socket listeners the configuration asks for. */
  async listen(): Promise<Listening> {
    const out: Listening = { socketPath: this.config.socketPath };
    const { config } = this;
    // Every member's API listens on the same port and scheme (pool/peer.ts); HTTPS when on.
    if (config.httpPort !== null) {
      const s = http.createServer(this.frontend.listener(false));
      out.httpPort = await this.start(s, config.httpPort, config.listen);
    }
    const host = this.db.get('host', this.svc.hostRef())!;
    if (config.httpsPort !== null || config.nbdPort !== null)
      await ensureSelfSignedCert(config.tlsCert, config.tlsKey, String(host.hostname), String(host.address));
    if (config.httpsPort !== null) {
      const s = https.createServer(loadTls(config.tlsCert, config.tlsKey), this.frontend.listener(false));
      out.httpsPort = await this.start(s, config.httpsPort, config.listen);
    }
    // The NBD server presents the HTTPS certificate, as xapi-nbd presents xapi's.
    if (config.nbdPort !== null) out.nbdPort = await this.startNbd(config.nbdPort);
    if (this.svc.pool)
      this.svc.pool.endpoint =
        out.httpsPort !== undefined
          ? { scheme: 'https', port: out.httpsPort }
          : { scheme: 'http', port: out.httpPort ?? 443 };
    mkdirSync(dirname(config.socketPath), { recursive: true, mode: 0o755 });
    if (existsSync(config.socketPath)) unlinkSync(config.socketPath);
    const local = http.createServer(this.frontend.listener(true));
    await this.startUnix(local, config.socketPath);
    // Root-only: a connection on this socket is the local superuser without a password.
    chmodSync(config.socketPath, 0o600);
    for (const link of config.xapiLocalLinks) linkXapiLocal(link, config.socketPath);
    return out;
  }

  /** The NBD server; a port it cannot take is logged, not fatal (xapi-nbd is a service of its own). */
  private async startNbd(port: number): Promise<number | undefined> {
    const { config } = this;
    try {
      const tls = loadTls(config.tlsCert, config.tlsKey);
      const started = await startNbdServer(this.svc, {
        port,
        host: config.listen,
        tls: { cert: String(tls.cert), key: String(tls.key) },
      });
      this.nbd = started.server;
      log.info('NBD server listening', { port: started.port });
      return started.port;
    } catch (e) {
      log.error('NBD server not started', { port, error: String(e) });
      return undefined;
    }
  }

  private start(server: http.Server | https.Server, port: number, host: string): Promise<number> {
    this.prepare(server);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
    });
  }

  private startUnix(server: http.Server, path: string): Promise<void> {
    this.prepare(server, true);
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
  }

  private prepare(server: http.Server | https.Server, local = false) {
    server.keepAliveTimeout = 65_000;
    server.headersTimeout = 70_000;
    // event.from long-polls for up to 24 h; the client decides.
    server.requestTimeout = 0;
    // A client may shutdown(SHUT_WR) once its request is sent (xapi answers it): without this,
    // Node aborts the request at the FIN and drops the reply of any call that is not instant.
    // (`httpAllowHalfOpen` is Node's own switch for this, used by its http server since v0.x but
    // missing from @types/node.)
    (server as typeof server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    server.on('connect', this.frontend.connectListener(local));
    server.on('upgrade', this.frontend.upgradeListener());
    server.on('clientError', (_e, socket) => {
      if (socket.writable)
        socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
    this.servers.push(server);
  }

  async close() {
    // First: its connections' exports are closed through the agent clients closed below.
    await this.nbd?.close();
    this.nbd = undefined;
    // Scan loops end (and the store closes) before the database they report into.
    await this.storageRuntime?.end();
    masterIpKeeper(this.svc).end();
    this.svc.pool?.stop();
    this.stopStats?.();
    this.closeStatsHttp();
    this.svc.hosts.closeAll();
    this.svc.sessions.stop();
    this.svc.tasks.stop();
    this.svc.events.stop();
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
    for (const link of this.config.xapiLocalLinks) unlinkXapiLocal(link, this.config.socketPath);
    this.svc.db.flush(); // deferred writes (Database.deferred) before the file closes
    this.backend.close();
    log.info('stopped');
  }
}

/**
 * The storage runtime of this manager whenever it is master: on its own berth.db (the pool's
 * replica copies no `_resource_*` table: a new master scans from what its own file holds).
 */
function masterStorageRuntime(
  svc: Services,
  dbPath: string,
  config: ManagerConfig,
  opts: Pick<ManagerOptions, 'storageResources' | 'agentFeed'>,
): MasterStorageRuntime {
  const { db } = svc;
  const targetOf = (root: string) => {
    // An agent device plugin's root (host/<uuid>/<plugin>) is its host's, as a bare host uuid is.
    const hostUuid = parseAgentRoot(root)?.hostUuid;
    if (hostUuid && db.refByUuid('host', hostUuid)) return { cls: 'Host' as const, uuid: hostUuid };
    if (db.refByUuid('host', root)) return { cls: 'Host' as const, uuid: root };
    if (db.refByUuid('SR', root)) return { cls: 'SR' as const, uuid: root };
    return { cls: 'Pool' as const, uuid: String(db.mustGet('pool', svc.poolRef()).uuid) };
  };
  return new MasterStorageRuntime(async () => {
    const runtime = await startStorageRuntime({
      dbPath,
      pluginDir: config.storagePluginDir,
      pluginPackages: config.storagePluginPackages,
      targetOf,
      createMessage: (name, priority, t, body) => createMessage({ svc }, name, priority, t.cls, t.uuid, body),
      objects: db,
      ...(opts.storageResources || {}),
    });
    // The hosts' device plugins feed this store: started with it, stopped before it closes.
    if (opts.agentFeed !== false) runtime.attachAgentFeed(startAgentFeed(svc, runtime, opts.agentFeed));
    return runtime;
  });
}
