// Pool membership of this manager, as xapi's (pool_role.ml, xapi_pool.ml,
// xapi_pool_transition.ml): its role (master, or slave of a master address), the join of this host
// into another pool, the master's side of a join, the slaves' replica of the pool database, and the
// role changes (eject, designate_new_master, emergency_transition_to_master,
// emergency_reset_master). Intra-pool calls use Berth's internal /pool/* endpoints (endpoints.ts)
// authenticated by the pool secret.
import { randomUUID } from 'node:crypto';
import { NULL_REF } from '../../shared/datamodel/types.js';
import { XenApiError, isXenApiError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import type { Services } from '../api/context.js';
import { connectSharedSrs, unplugSharedSrs } from '../storage/shared-pbds.js';
import { type BundleRow, collectBundle, importBundle, type JoinBundle, undoImport } from './bundle.js';
import { type HostConnector, PoolMembers } from './members.js';
import { destroyRows, hostLocalRows, hostRecordRows, rowsOfOtherHosts } from './ownership.js';
import { type PeerEndpoint, SECRET_HEADER, SESSION_HEADER, peerApi, postInternal } from './peer.js';
import { preJoinChecks, readMasterFacts } from './prejoin.js';
import { applyDump, type DbDump, dumpSince } from './replica.js';
import { type EncodedReply, ReplicaFollower, ReplicaPublisher } from './replica-sync.js';
import { newSecret, type PoolRole, readOrCreateSecret, readRole, writeRole, writeSecret } from './role.js';
import { assertServedHere } from './slave-gate.js';
import type { PoolPki } from './pki.js';
import { fenceGuard, outsideApiCalls } from './write-fence.js';
import type { PoolCredentials } from '../../shared/pki/pool-pki.js';

const log = logger('pool');

export interface PoolServiceOptions {
  dataDir: string;
  /** Builds the client of a member host's agent (TCP + mTLS by default, Unix sockets in tests). */
  connector: HostConnector;
  /** How often host_metrics.live follows the agents' connections. */
  liveIntervalMs: number;
  /** Attaches this host's own agent (at start-up as master, and on becoming master). */
  attachLocalAgent: () => void;
  /** Stops what only a master runs (the storage runtime) when this host becomes a slave. */
  detachMasterWork?: () => void;
  /** Restarts a VM whose actions_after_* say so (the member agents' events). */
  restartVm: (vm: string) => Promise<void>;
  /** Recreates the default templates (an ejected host's new standalone pool). */
  ensureTemplates: () => void;
  /** The pool's certificates (absent in tests whose members talk over Unix sockets). */
  pki?: PoolPki;
}

/** Internal requests a member answers. */
export type RoleRequest =
  | { action: 'become-master'; dump: DbDump }
  | { action: 'follow'; master: string }
  | { action: 'eject' };

export class PoolService {
  private roleNow: PoolRole;
  private secretNow: string;
  private members?: PoolMembers;
  private follower?: ReplicaFollower;
  /** The master an API call's write is sent to (HOST_IS_SLAVE) while this host may not write (write-fence.ts). */
  private fencedTo?: string;
  /** A designate_new_master under way: new API calls wait for it, then see the new role. */
  private transition?: Promise<void>;
  /** What each join imported, until the joining host confirmed (for /pool/join-undo). */
  private readonly imports = new Map<string, BundleRow[]>();
  /** Identifies this master's database in replica dumps (generations restart with another one). */
  readonly dbId = randomUUID();
  /** When the replica last applied a dump from the master (slaves). */
  get lastSync(): Date | undefined {
    return this.follower?.lastSync;
  }
  /** The scheme and port every member's API listens on; set once the listeners are up. */
  endpoint: PeerEndpoint = { scheme: 'https', port: 443 };

  constructor(
    private readonly svc: Services,
    private readonly opts: PoolServiceOptions,
  ) {
    this.roleNow = readRole(opts.dataDir);
    this.secretNow = readOrCreateSecret(opts.dataDir);
    if (this.roleNow.kind === 'slave') this.fencedTo = this.roleNow.master;
    svc.db.writeGuard = fenceGuard(() => this.fencedTo);
  }

  /**
   * Whether this host's write fence could ever be raised while a call runs: it is a slave, the
   * fence is up, or its pool has other members (designate_new_master). A standalone master's
   * calls then run outside the fence's context, at no cost.
   */
  fenceMayRise(): boolean {
    return this.roleNow.kind === 'slave' || this.fencedTo !== undefined || this.svc.db.count('host') > 1;
  }

  get role(): PoolRole {
    return this.roleNow;
  }

  get secret(): string {
    return this.secretNow;
  }

  isMaster(): boolean {
    return this.roleNow.kind === 'master';
  }

  /** Starts what the role needs: member connections (master) or the replica follower (slave). */
  start(): void {
    if (this.roleNow.kind === 'master') this.startMembers();
    else this.follow(this.roleNow.master);
  }

  stop(): void {
    this.members?.stop();
    this.members = undefined;
    this.follower?.stop();
    this.follower = undefined;
  }

  /**
   * The dispatcher's check: HOST_IS_SLAVE for what a slave does not serve. During a
   * designate_new_master the call waits for the outcome (as xapi's clients wait out its restart)
   * and then sees the new role.
   */
  assertServed(wire: string, withSession: boolean): void | Promise<void> {
    if (this.transition) return this.transition.then(() => assertServedHere(this.roleNow, wire, withSession));
    assertServedHere(this.roleNow, wire, withSession);
  }

  assertMaster(): void {
    if (this.roleNow.kind === 'slave') throw new XenApiError('HOST_IS_SLAVE', [this.roleNow.master]);
  }

  private secretHeader() {
    return { [SECRET_HEADER]: this.secretNow };
  }

  private startMembers() {
    // Connections and timers belong to no API call (write-fence.ts): outside any call's context.
    this.members = outsideApiCalls(
      () => new PoolMembers(this.svc, this.opts.connector, this.opts.restartVm, this.opts.liveIntervalMs),
    );
    outsideApiCalls(() => this.members?.start());
  }

  // ---------- joining (on the joining host) ----------

  /** pool.join / pool.join_force, called on the joining host. */
  async join(address: string, user: string, password: string, force: boolean): Promise<void> {
    this.assertMaster();
    const api = peerApi(this.endpoint, address);
    try {
      await api.login(user, password, 'berth-pool-join');
    } catch (e) {
      if (isXenApiError(e)) throw e;
      log.warn('pool.join: master unreachable', { address, error: String(e) });
      throw new XenApiError('JOINING_HOST_CONNECTION_FAILED', []);
    }
    try {
      const me = this.svc.hostRef();
      preJoinChecks(this.svc.db, me, await readMasterFacts(api), force);
      const bundle = collectBundle(this.svc.db, me);
      const reply = await postInternal<{ secret: string; pki?: PoolCredentials }>(
        this.endpoint,
        address,
        '/pool/join',
        { bundle },
        { [SESSION_HEADER]: String(api.sessionRef) },
      ).catch((e) => {
        throw isXenApiError(e) ? e : new XenApiError('JOINING_HOST_SERVICE_FAILED', []);
      });
      // The master committed: only now does this host change, and it asks the master to undo
      // the import if it cannot finish.
      const before = { role: this.roleNow, secret: this.secretNow };
      const pki = this.opts.pki;
      const oldCreds = pki && reply.pki ? pki.credentials() : undefined;
      try {
        // The pool's CA and this host's certificate from it, for this host and its agent: from now
        // on only the pool's master can reach the agent over TCP.
        if (pki && reply.pki) {
          await pki.install(reply.pki);
          const local = this.svc.hosts.peek(me);
          if (local) await pki.handToAgent(local);
        }
        this.secretNow = reply.secret;
        const dump = await postInternal<DbDump>(
          this.endpoint,
          address,
          '/pool/db',
          { since: -1 },
          this.secretHeader(),
        );
        this.becomeSlave(address, dump);
        writeSecret(this.opts.dataDir, reply.secret);
      } catch (e) {
        log.error('pool.join failed after the master imported this host; undoing', { error: String(e) });
        await postInternal(
          this.endpoint,
          address,
          '/pool/join-undo',
          { host: me },
          this.secretHeader(),
        ).catch((u) => log.error('could not undo the import on the master', { error: String(u) }));
        this.secretNow = before.secret;
        writeSecret(this.opts.dataDir, before.secret);
        if (pki && oldCreds) {
          await pki.install(oldCreds).catch(() => undefined);
          const local = this.svc.hosts.peek(me);
          if (local) await pki.handToAgent(local).catch(() => undefined);
        }
        if (this.roleNow.kind !== before.role.kind) this.becomeMaster();
        throw e;
      }
      log.info('joined pool', { master: address });
    } finally {
      api.logout().catch(() => {});
    }
  }

  // ---------- the master's side ----------

  /** /pool/join's credential: a session of a pool-admin on this master (checked before the body is read). */
  assertJoinSession(sessionRef: unknown): void {
    const session = this.svc.sessions.validate(sessionRef);
    if (!session.superuser && session.role !== 'pool-admin')
      throw new XenApiError('RBAC_PERMISSION_DENIED', ['pool.join', 'The caller is not a pool-admin']);
  }

  /** /pool/join: imports a joining host's records and issues its certificate. */
  async acceptJoin(bundle: JoinBundle): Promise<{ secret: string; pki?: PoolCredentials }> {
    this.assertMaster();
    const created = importBundle(this.svc.db, bundle);
    let pki: PoolCredentials | undefined;
    try {
      const host = this.svc.db.mustGet('host', bundle.host);
      pki = await this.opts.pki?.issueFor(String(host.uuid), String(host.address));
    } catch (e) {
      undoImport(this.svc.db, created);
      log.error('pool.join: could not issue the joining host a certificate', { error: String(e) });
      throw new XenApiError('JOINING_HOST_SERVICE_FAILED', []);
    }
    this.members?.attach(bundle.host);
    // The pool's shared SRs reach the new host: a PBD each, plugged once its agent connects.
    created.push(...connectSharedSrs(this.svc, bundle.host));
    this.imports.set(bundle.host, created);
    log.info('host joined the pool', { host: bundle.host, rows: created.length });
    return { secret: this.secretNow, pki };
  }

  /** /pool/join-undo: the joining host could not finish; its records go. */
  undoJoin(host: string): void {
    const created = this.imports.get(host);
    if (!created) return;
    this.members?.detach(host);
    undoImport(this.svc.db, created);
    this.imports.delete(host);
  }

  /** Answers the replicas' long polls (created with the first one). */
  private publisher?: ReplicaPublisher;

  /** /pool/db: the replica's long poll (waits up to waitMs for a change; encoded for sharing). */
  async dump(
    since: number,
    master: string | undefined,
    waitMs: number,
    signal: AbortSignal,
  ): Promise<EncodedReply | undefined> {
    this.assertMaster();
    const from = master === this.dbId ? since : -1;
    this.publisher ??= new ReplicaPublisher(this.svc.db, this.dbId);
    return this.publisher.answer(from, waitMs, signal);
  }

  // ---------- the slave's replica ----------

  private follow(master: string) {
    this.follower?.stop();
    this.follower = outsideApiCalls(
      () =>
        new ReplicaFollower(
          this.svc.db,
          () => this.endpoint,
          master,
          () => this.secretHeader(),
        ),
    );
  }

  /** Becomes a slave of `master`, replacing this database with the master's dump if given. */
  private becomeSlave(master: string, dump?: DbDump) {
    if (dump) applyDump(this.svc.db, dump);
    this.members?.stop();
    this.members = undefined;
    this.svc.hosts.detach(this.svc.hostRef());
    this.roleNow = { kind: 'slave', master };
    this.fencedTo = master;
    writeRole(this.opts.dataDir, this.roleNow);
    this.follow(master);
    outsideApiCalls(() => this.opts.detachMasterWork?.());
  }

  /** Becomes the master of the pool in this database (this host is pool.master from now). */
  private becomeMaster() {
    this.fencedTo = undefined;
    this.follower?.stop();
    this.follower = undefined;
    this.members?.stop();
    const db = this.svc.db;
    const pool = this.svc.poolRef();
    if (db.get('pool', pool)?.master !== this.svc.hostRef())
      db.update('pool', pool, { master: this.svc.hostRef() });
    this.roleNow = { kind: 'master' };
    writeRole(this.opts.dataDir, this.roleNow);
    outsideApiCalls(() => this.opts.attachLocalAgent());
    this.startMembers();
  }

  /** /pool/role: what another member asks of this one. */
  async handleRoleRequest(req: RoleRequest): Promise<void> {
    switch (req.action) {
      case 'become-master':
        applyDump(this.svc.db, req.dump);
        this.becomeMaster();
        return;
      case 'follow':
        this.becomeSlave(req.master);
        return;
      case 'eject':
        await this.becomeStandalone();
        return;
      default:
        throw new XenApiError('INVALID_VALUE', ['action', String((req as { action: unknown }).action)]);
    }
  }

  // ---------- API operations ----------

  /** pool.emergency_transition_to_master (on a slave; a master is left as it is, as xapi's). */
  emergencyTransitionToMaster(): void {
    if (this.roleNow.kind === 'master') return;
    log.warn('emergency transition to master', { from: this.roleNow.master });
    this.becomeMaster();
  }

  /** pool.emergency_reset_master: this slave follows another master. */
  emergencyResetMaster(address: string): void {
    if (!address) throw new XenApiError('INVALID_VALUE', ['master_address', address]);
    this.becomeSlave(address);
  }

  /**
   * pool.recover_slaves (on a new master after an emergency transition): tells every other member
   * to follow this host, as xapi's emergency_reset_master on each; returns those that did.
   */
  async recoverSlaves(): Promise<string[]> {
    this.assertMaster();
    const me = this.svc.hostRef();
    const address = String(this.svc.db.mustGet('host', me).address);
    const recovered: string[] = [];
    for (const [ref, host] of [...this.svc.db.all('host')]) {
      if (ref === me) continue;
      try {
        await postInternal(
          this.endpoint,
          String(host.address),
          '/pool/role',
          { action: 'follow', master: address },
          this.secretHeader(),
        );
        recovered.push(ref);
      } catch (e) {
        log.warn('recover_slaves: a member did not answer', { host: ref, error: String(e) });
      }
    }
    return recovered;
  }

  /** pool.designate_new_master: the new master takes the database; everyone else follows it. */
  async designateNewMaster(host: string): Promise<void> {
    this.assertMaster();
    const db = this.svc.db;
    const row = db.mustGet('host', host);
    if (host === this.svc.hostRef()) return;
    if (!this.svc.hosts.live(host)) throw new XenApiError('HOST_OFFLINE', [host]);
    const address = String(row.address);
    const others = [...db.all('host')]
      .filter(([ref]) => ref !== host && ref !== this.svc.hostRef())
      .map(([, h]) => String(h.address));
    // From the dump on, this host writes nothing an API call asks (the fence) and new calls wait:
    // every write it acknowledged is in the dump the new master starts from.
    let settle!: () => void;
    this.transition = new Promise((resolve) => {
      settle = resolve;
    });
    this.fencedTo = address;
    try {
      const dump = dumpSince(db, -1, this.dbId);
      await postInternal(
        this.endpoint,
        address,
        '/pool/role',
        { action: 'become-master', dump },
        this.secretHeader(),
      );
      this.becomeSlave(address);
    } catch (e) {
      this.fencedTo = undefined;
      throw e;
    } finally {
      this.transition = undefined;
      settle();
    }
    for (const other of others) {
      await postInternal(
        this.endpoint,
        other,
        '/pool/role',
        { action: 'follow', master: address },
        this.secretHeader(),
      ).catch((e) =>
        log.warn('designate_new_master: a slave did not follow', { host: other, error: String(e) }),
      );
    }
    log.info('designated new master', { host, address });
  }

  /** pool.eject: the host leaves and becomes a standalone pool of its own. */
  async eject(host: string): Promise<void> {
    this.assertMaster();
    const db = this.svc.db;
    const row = db.mustGet('host', host);
    if (host === this.svc.hostRef())
      throw new XenApiError('OPERATION_NOT_ALLOWED', ['Cannot eject the pool master']);
    for (const vm of db.all('VM').values())
      if (vm.resident_on === host && !vm.is_control_domain && vm.power_state !== 'Halted')
        throw new XenApiError('OPERATION_NOT_ALLOWED', ['VM resident on host']);
    await unplugSharedSrs(this.svc, host);
    // As xapi's, the eject happens on the host first; if it cannot be reached nothing changes.
    await postInternal(
      this.endpoint,
      String(row.address),
      '/pool/role',
      { action: 'eject' },
      this.secretHeader(),
    ).catch((e) => {
      throw isXenApiError(e) ? e : new XenApiError('HOST_OFFLINE', [host]);
    });
    this.members?.detach(host);
    destroyRows(db, hostLocalRows(db, host));
    log.info('ejected host', { host });
  }

  /** host.destroy of a member that is gone (xapi: HOST_IS_LIVE while it answers). */
  destroyHost(host: string): void {
    this.assertMaster();
    const db = this.svc.db;
    db.mustGet('host', host);
    if (host === this.svc.hostRef() || this.svc.hosts.live(host))
      throw new XenApiError('HOST_IS_LIVE', [host]);
    for (const vm of db.all('VM').values())
      if (vm.resident_on === host && !vm.is_control_domain)
        throw new XenApiError('HOST_HAS_RESIDENT_VMS', [host]);
    this.members?.detach(host);
    destroyRows(db, hostRecordRows(db, host));
  }

  /**
   * On the ejected host: keeps its own rows and the default templates, drops the rest of the old
   * pool's, and becomes the master of a new pool of its own.
   */
  private async becomeStandalone() {
    const db = this.svc.db;
    const me = this.svc.hostRef();
    // A CA of its own: the old pool's master must no longer reach this host's agent.
    const self = db.mustGet('host', me);
    await this.opts.pki?.renew(String(self.uuid), String(self.address));
    db.transaction(() => {
      destroyRows(db, rowsOfOtherHosts(db, me));
      for (const ref of [...db.all('pool').keys()]) db.destroy('pool', ref);
      const facts = db.mustGet('host', me);
      db.create('pool', {
        name_label: '',
        name_description: '',
        master: me,
        default_SR: NULL_REF,
        suspend_image_SR: NULL_REF,
        crash_dump_SR: NULL_REF,
        other_config: {},
        cpu_info: facts.cpu_info,
      });
    });
    this.opts.ensureTemplates();
    this.secretNow = newSecret();
    writeSecret(this.opts.dataDir, this.secretNow);
    this.becomeMaster();
    log.info('ejected from the pool: now a standalone host');
  }
}
