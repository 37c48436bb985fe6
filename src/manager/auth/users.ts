// Local user accounts (Berth's stand-in for xapi's PAM + subjects): a name, one RBAC role and
// an scrypt password hash, kept in the backend's _users table, never in XenAPI objects.
import { XenApiError } from '../../shared/errors.js';
import type { StoreBackend, UserRow } from '../db/backend.js';
import { DUMMY_HASH_PROMISE, hashPassword, verifyPassword } from './passwords.js';
import { isRoleName, type RoleName } from './roles.js';

export const USER_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$/;

export class UserStore {
  /** Accounts as last read, valid while no other process has committed (sessions read per call). */
  private cache?: { stamp: number; users: Map<string, UserRow> };

  constructor(private readonly backend: StoreBackend) {}

  get(name: string): UserRow | undefined {
    const stamp = this.backend.externalChangeStamp();
    if (this.cache?.stamp !== stamp) {
      this.cache = { stamp, users: new Map(this.backend.listUsers().map((u) => [u.name, u])) };
    }
    return this.cache.users.get(name);
  }

  list(): UserRow[] {
    return this.backend.listUsers();
  }

  async add(name: string, role: RoleName, password: string): Promise<void> {
    if (!USER_NAME_RE.test(name)) throw new XenApiError('INVALID_VALUE', ['name', name]);
    if (!isRoleName(role)) throw new XenApiError('INVALID_VALUE', ['role', role]);
    if (this.backend.getUser(name))
      throw new XenApiError('INVALID_VALUE', ['name', `user ${name} already exists`]);
    this.backend.putUser({ name, role, passwordHash: await hashPassword(password) });
    this.cache = undefined;
  }

  async setPassword(name: string, password: string): Promise<void> {
    const user = this.backend.getUser(name);
    if (!user) throw new XenApiError('INVALID_VALUE', ['name', `no such user ${name}`]);
    this.backend.putUser({ ...user, passwordHash: await hashPassword(password) });
    this.cache = undefined;
  }

  setRole(name: string, role: RoleName): void {
    const user = this.backend.getUser(name);
    if (!user) throw new XenApiError('INVALID_VALUE', ['name', `no such user ${name}`]);
    this.backend.putUser({ ...user, role });
    this.cache = undefined;
  }

  remove(name: string): boolean {
    this.cache = undefined;
    return this.backend.deleteUser(name);
  }

  /**
   * The user if the password matches. A missing user costs the same scrypt work as a wrong
   * password, so timing does not tell whether the name exists.
   */
  async authenticate(name: string, password: string): Promise<UserRow | undefined> {
    const user = this.backend.getUser(name);
    const ok = await verifyPassword(password, user?.passwordHash ?? (await DUMMY_HASH_PROMISE));
    return ok && user ? user : undefined;
  }
}
