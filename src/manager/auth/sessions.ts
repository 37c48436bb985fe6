// XenAPI sessions: login, validation, logout and garbage collection. Sessions are `session`
// objects in the database (so they survive a manager restart); the role of each is cached here.
import { XenApiError } from '../../shared/errors.js';
import { NULL_REF } from '../../shared/datamodel/types.js';
import type { Database } from '../db/database.js';
import { nowXapi } from '../time.js';
import type { UserRow } from '../db/backend.js';
import { DEFAULT_LOGIN_POLICY, type LoginPolicy, LoginThrottle } from './login-throttle.js';
import type { UserStore } from './users.js';
import { isRoleName, ROLE_NAMES, type RoleName, rolePermissions } from './roles.js';
import { logger } from '../../shared/log.js';
import { isExternalIdentifier } from './kerberos.js';

const log = logger('sessions');

export interface SessionInfo {
  ref: string;
  userName: string;
  /** Role for RBAC; undefined for the local superuser, who bypasses RBAC. */
  role?: RoleName;
  superuser: boolean;
  /** Externally authenticated (Kerberos): the subject_identifier whose roles the session has. */
  externalId?: string;
  originator: string;
  lastActive: number;
}

export interface SessionLimits {
  idleMs: number;
  maxAnonymous: number;
  maxPerOriginator: number;
  maxPerUser: number;
  /** Delay before answering a failed login (xapi: 5 s). */
  authFailureDelayMs: number;
  /** Password-guessing limits per account and per source address. */
  loginPolicy: LoginPolicy;
}

export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  idleMs: 24 * 3600_000,
  maxAnonymous: 400,
  maxPerOriginator: 500,
  maxPerUser: 500,
  authFailureDelayMs: 5000,
  loginPolicy: DEFAULT_LOGIN_POLICY,
};

/** Refresh `last_active` in the database at most this often (xapi: 600 s). */
const LAST_ACTIVE_WRITE_MS = 600_000;

export class SessionManager {
  private readonly live = new Map<string, SessionInfo>();
  private readonly permsByRole = new Map<RoleName, string[]>();
  private gcTimer?: NodeJS.Timeout;
  private readonly endListeners = new Set<(ref: string) => void>();
  private readonly throttle: LoginThrottle;

  constructor(
    private readonly db: Database,
    private readonly users: UserStore,
    private readonly hostRef: () => string,
    readonly limits: SessionLimits = DEFAULT_SESSION_LIMITS,
    /** Refs of sessions with a pending task (never collected). */
    private readonly busy: (session: string) => boolean = () => false,
  ) {
    this.throttle = new LoginThrottle(limits.loginPolicy ?? DEFAULT_LOGIN_POLICY);
    // Re-admit persisted sessions; their user's current role applies.
    const now = Date.now();
    for (const [ref, row] of [...db.all('session')]) {
      const userName = String(row.auth_user_name ?? '');
      const superuser = row.is_local_superuser === true;
      const sid = String(row.auth_user_sid ?? '');
      if (!superuser && isExternalIdentifier(sid)) {
        const role = this.subjectRole(sid);
        if (role)
          this.live.set(ref, {
            ref,
            userName,
            role,
            superuser,
            externalId: sid,
            originator: String(row.originator ?? ''),
            lastActive: now,
          });
        else db.destroy('session', ref);
        continue;
      }
      const user = users.get(userName);
      if (!superuser && !user) {
        // Its user was removed while the manager was down (berth-admin): the session is over.
        db.destroy('session', ref);
        continue;
      }
      this.live.set(ref, {
        ref,
        userName,
        role: superuser ? undefined : this.currentRole(userName),
        superuser,
        originator: String(row.originator ?? ''),
        lastActive: now,
      });
    }
  }

  onSessionEnd(listener: (ref: string) => void) {
    this.endListeners.add(listener);
  }

  startGc(intervalMs = 30_000) {
    this.gcTimer = setInterval(() => this.gc(), intervalMs);
    this.gcTimer.unref();
  }

  stop() {
    if (this.gcTimer) clearInterval(this.gcTimer);
  }

  private permissionsOf(role: RoleName): string[] {
    let p = this.permsByRole.get(role);
    if (!p) this.permsByRole.set(role, (p = rolePermissions(this.db.model, role)));
    return p;
  }

  /**
   * The user if the password is right and no limit refuses the attempt (see login-throttle.ts).
   * Every failure and refusal is logged with the user name and address, never the password.
   */
  async checkPassword(uname: string, password: string, address?: string): Promise<UserRow | undefined> {
    const t = this.throttle;
    let refusal = t.check(uname, address);
    if (!refusal) {
      const release = await t.acquire(uname, address);
      try {
        // Decided now: attempts queued behind failures meet their back-off here.
        refusal = t.check(uname, address);
        if (!refusal) {
          const user = await this.users.authenticate(uname, password);
          if (user) {
            t.succeeded(uname);
            return user;
          }
          const locked = t.failed(uname, address);
          log.warn('login failed', { user: uname, address });
          if (locked)
            log.warn('account locked after repeated login failures', {
              user: uname,
              address,
              lockedForMs: t.policy.lockoutMs,
            });
          return undefined;
        }
      } finally {
        release();
      }
    }
    log.warn('login refused without checking the password', {
      user: uname,
      address,
      reason: refusal.reason,
      limit: refusal.key.startsWith('user:') ? 'account' : 'address',
      retryInMs: refusal.until - Date.now(),
    });
    return undefined;
  }

  async loginWithPassword(
    uname: string,
    password: string,
    originator: string,
    address?: string,
  ): Promise<string> {
    const user = await this.checkPassword(uname, password, address);
    if (!user || !isRoleName(user.role)) {
      await new Promise((r) => setTimeout(r, this.limits.authFailureDelayMs));
      throw new XenApiError('SESSION_AUTHENTICATION_FAILED', [uname, 'Authentication failure']);
    }
    const superuser = user.name === 'root';
    return this.create(user.name, superuser ? undefined : this.currentRole(user.name), superuser, originator);
  }

  /**
   * A login by an externally authenticated name (a Kerberos principal): the subject whose
   * subject_identifier is `identifier` must exist (SESSION_AUTHENTICATION_FAILED) and hold a role
   * (RBAC_PERMISSION_DENIED, as xapi for a subject without roles); the session has its best role.
   */
  async loginExternal(identifier: string, name: string, originator: string): Promise<string> {
    if (!this.subjectOf(identifier)) {
      log.warn('external login refused: no subject', { user: name });
      await new Promise((r) => setTimeout(r, this.limits.authFailureDelayMs));
      throw new XenApiError('SESSION_AUTHENTICATION_FAILED', [name, 'Authentication failure']);
    }
    const role = this.subjectRole(identifier);
    if (!role) {
      log.warn('external login refused: the subject has no role', { user: name });
      throw new XenApiError('RBAC_PERMISSION_DENIED', [
        'session.login_with_password',
        'The subject has no role in this pool',
      ]);
    }
    return this.create(name, role, false, originator, identifier);
  }

  /** The best role of a subject (undefined: no such subject, or no role). */
  subjectRole(identifier: string): RoleName | undefined {
    let best: number = ROLE_NAMES.length;
    for (const r of (this.subjectOf(identifier)?.[1].roles as string[] | undefined) ?? []) {
      const name = String(this.db.get('role', r)?.name_label ?? '');
      if (isRoleName(name)) best = Math.min(best, ROLE_NAMES.indexOf(name));
    }
    return best < ROLE_NAMES.length ? ROLE_NAMES[best] : undefined;
  }

  /** Ends every externally authenticated session (external authentication disabled). */
  logoutExternal() {
    for (const s of [...this.live.values()]) if (s.externalId) this.logout(s.ref);
  }

  /** Password-less login of the local superuser (Unix socket, local tools). */
  localLogin(originator = ''): string {
    return this.create('root', undefined, true, originator);
  }

  /**
   * A new session for the same user, role and superuser status as `like` (xapi's
   * login_no_password, as host.migrate_receive makes one for the migration's destination).
   */
  loginAs(like: SessionInfo, originator: string): string {
    return this.create(like.userName, like.role, like.superuser, originator, like.externalId);
  }

  private create(
    userName: string,
    role: RoleName | undefined,
    superuser: boolean,
    originator: string,
    externalId?: string,
  ): string {
    const now = nowXapi();
    const subject = superuser ? undefined : this.subjectOf(externalId ?? userName);
    const ref = this.db.create('session', {
      this_host: this.hostRef(),
      this_user: NULL_REF,
      last_active: now,
      pool: false,
      is_local_superuser: superuser,
      subject: subject?.[0] ?? NULL_REF,
      validation_time: now,
      auth_user_sid: subject ? String(subject[1].subject_identifier) : '',
      auth_user_name: userName,
      rbac_permissions: role ? this.permissionsOf(role) : [],
      parent: NULL_REF,
      originator,
      client_certificate: false,
      other_config: {},
    });
    this.live.set(ref, {
      ref,
      userName,
      role,
      superuser,
      ...(externalId ? { externalId } : {}),
      originator,
      lastActive: Date.now(),
    });
    this.enforceCaps();
    return ref;
  }

  /**
   * The role a user has now: its account's role, raised by the roles of a `subject` whose
   * subject_identifier is the user's name (subject.add_to_roles). Undefined: no such user.
   */
  currentRole(userName: string): RoleName | undefined {
    const user = this.users.get(userName);
    if (!user || !isRoleName(user.role)) return undefined;
    let best = ROLE_NAMES.indexOf(user.role);
    const subject = this.subjectOf(userName);
    for (const r of (subject?.[1].roles as string[] | undefined) ?? []) {
      const name = String(this.db.get('role', r)?.name_label ?? '');
      if (isRoleName(name)) best = Math.min(best, ROLE_NAMES.indexOf(name));
    }
    return ROLE_NAMES[best];
  }

  private subjectOf(userName: string) {
    for (const entry of this.db.all('subject')) if (entry[1].subject_identifier === userName) return entry;
    return undefined;
  }

  /**
   * Re-reads a password session's user on every call: an account removed (berth-admin writes the
   * database directly, from another process) ends the session at once, a changed role applies
   * at once. Throws SESSION_INVALID for a removed user.
   */
  private revalidate(s: SessionInfo) {
    const role = s.externalId ? this.subjectRole(s.externalId) : this.currentRole(s.userName);
    if (!role) {
      log.info('session ended: its user no longer exists', { user: s.userName });
      this.logout(s.ref);
      throw new XenApiError('SESSION_INVALID', [s.ref]);
    }
    if (role === s.role) return;
    log.info('session role changed', { user: s.userName, from: s.role, to: role });
    s.role = role;
    if (this.db.has('session', s.ref))
      this.db.update('session', s.ref, { rbac_permissions: this.permissionsOf(role) });
  }

  /** Users with open password sessions (session.get_all_subject_identifiers). */
  subjectIdentifiers(): string[] {
    return [
      ...new Set([...this.live.values()].filter((s) => !s.superuser).map((s) => s.externalId ?? s.userName)),
    ];
  }

  /** Ends the sessions of the user a subject stands for (subject.destroy), as xapi. */
  logoutSubject(subjectIdentifier: string) {
    for (const s of [...this.live.values()])
      if ((s.externalId ?? s.userName) === subjectIdentifier && !s.superuser) this.logout(s.ref);
  }

  /** The session for a ref, or SESSION_INVALID; refreshes its activity. */
  validate(ref: unknown): SessionInfo {
    const s = typeof ref === 'string' ? this.live.get(ref) : undefined;
    if (!s || !this.db.has('session', s.ref)) throw new XenApiError('SESSION_INVALID', [String(ref)]);
    if (!s.superuser) this.revalidate(s);
    const now = Date.now();
    if (now - s.lastActive > LAST_ACTIVE_WRITE_MS)
      this.db.update('session', s.ref, { last_active: nowXapi() });
    s.lastActive = now;
    return s;
  }

  get(ref: string): SessionInfo | undefined {
    return this.live.get(ref);
  }

  logout(ref: string) {
    if (!this.live.delete(ref)) return;
    if (this.db.has('session', ref)) this.db.destroy('session', ref);
    for (const l of this.endListeners) l(ref);
  }

  /** Ends every session of a user (after a password change or removal). */
  logoutUser(userName: string, except?: string) {
    for (const s of [...this.live.values()])
      if (s.userName === userName && s.ref !== except) this.logout(s.ref);
  }

  count(): number {
    return this.live.size;
  }

  /** Idle expiry, then caps per group (anonymous, per originator, per user), oldest first. */
  gc(now = Date.now()) {
    for (const s of [...this.live.values()]) {
      if (now - s.lastActive > this.limits.idleMs && !this.busy(s.ref)) {
        log.info('session expired', { user: s.userName });
        this.logout(s.ref);
      }
    }
    this.enforceCaps();
  }

  private enforceCaps() {
    const groups = new Map<string, SessionInfo[]>();
    for (const s of this.live.values()) {
      const key =
        s.userName !== 'root' ? `user:${s.userName}` : s.originator ? `orig:${s.originator}` : 'anon';
      let g = groups.get(key);
      if (!g) groups.set(key, (g = []));
      g.push(s);
    }
    for (const [key, list] of groups) {
      const cap =
        key === 'anon'
          ? this.limits.maxAnonymous
          : key.startsWith('orig:')
            ? this.limits.maxPerOriginator
            : this.limits.maxPerUser;
      if (list.length <= cap) continue;
      const candidates = list.filter((s) => !this.busy(s.ref)).sort((a, b) => a.lastActive - b.lastActive);
      for (const s of candidates.slice(0, list.length - cap)) this.logout(s.ref);
    }
  }
}
