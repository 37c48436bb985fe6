// Password-guessing limits. Failed logins are counted per account and per source address within
// a window; past a threshold each key must wait an exponentially growing back-off (capped)
// after its last failure, and an account with too many failures is locked for a while. An
// attempt that arrives during a back-off or a lockout is refused without checking its password
// (no scrypt work, so a burst cannot starve the API), and verifications run at most a few at a
// time per key, so a parallel burst is decided a few at a time and mostly refused. xapi has no
// lockout; Berth's defaults and the flags are in docs/configuration.md.

export interface LoginPolicy {
  /** Failures older than this are forgotten. */
  windowMs: number;
  /** Failures of one account (any address) before its back-off starts. */
  accountBackoffAfter: number;
  /** Failures from one address (any account) before its back-off starts. */
  addressBackoffAfter: number;
  /** First back-off; doubles with each further failure. */
  backoffBaseMs: number;
  backoffCapMs: number;
  /** Failures of one account that lock it (0: never). */
  lockoutAfter: number;
  lockoutMs: number;
  /** Password checks running at once per account and per address. */
  maxConcurrent: number;
}

export const DEFAULT_LOGIN_POLICY: LoginPolicy = {
  windowMs: 15 * 60_000,
  accountBackoffAfter: 3,
  addressBackoffAfter: 10,
  backoffBaseMs: 1000,
  backoffCapMs: 60_000,
  lockoutAfter: 10,
  lockoutMs: 15 * 60_000,
  maxConcurrent: 2,
};

interface KeyState {
  failures: number[];
  lockedUntil: number;
  inFlight: number;
  waiters: (() => void)[];
}

/** Why an attempt is refused before its password is checked, if it is. */
export type Refusal = { reason: 'locked' | 'backoff'; until: number; key: string };

/** Back-off after `failures` failures with `after` free ones (pure). */
export function backoffMs(failures: number, after: number, p: LoginPolicy): number {
  if (failures < after) return 0;
  return Math.min(p.backoffCapMs, p.backoffBaseMs * 2 ** Math.min(30, failures - after));
}

export class LoginThrottle {
  private readonly keys = new Map<string, KeyState>();

  constructor(
    readonly policy: LoginPolicy = DEFAULT_LOGIN_POLICY,
    private readonly now: () => number = Date.now,
  ) {}

  private state(key: string): KeyState {
    let s = this.keys.get(key);
    if (!s) this.keys.set(key, (s = { failures: [], lockedUntil: 0, inFlight: 0, waiters: [] }));
    return s;
  }

  private prune(s: KeyState, now: number) {
    const from = now - this.policy.windowMs;
    while (s.failures.length && s.failures[0] < from) s.failures.shift();
  }

  /** The refusal for an attempt on `user` from `address` now, if any. */
  check(user: string, address: string | undefined): Refusal | undefined {
    const now = this.now();
    const p = this.policy;
    const acct = this.keys.get(`user:${user}`);
    if (acct && acct.lockedUntil > now)
      return { reason: 'locked', until: acct.lockedUntil, key: `user:${user}` };
    const keys: [string, number][] = [[`user:${user}`, p.accountBackoffAfter]];
    if (address) keys.push([`addr:${address}`, p.addressBackoffAfter]);
    for (const [key, after] of keys) {
      const s = this.keys.get(key);
      if (!s) continue;
      this.prune(s, now);
      const n = s.failures.length;
      if (!n) continue;
      const until = s.failures[n - 1] + backoffMs(n, after, p);
      if (until > now) return { reason: 'backoff', until, key };
    }
    return undefined;
  }

  /** Waits for a verification slot on both keys; returns the release function. */
  async acquire(user: string, address: string | undefined): Promise<() => void> {
    const keys = [`user:${user}`, ...(address ? [`addr:${address}`] : [])];
    const held: KeyState[] = [];
    for (const key of keys) {
      const s = this.state(key);
      while (s.inFlight >= this.policy.maxConcurrent) await new Promise<void>((r) => s.waiters.push(r));
      s.inFlight++;
      held.push(s);
    }
    return () => {
      for (const s of held) {
        s.inFlight--;
        s.waiters.shift()?.();
      }
    };
  }

  /** Records a failed password check; returns whether the account just became locked. */
  failed(user: string, address: string | undefined): boolean {
    const now = this.now();
    for (const key of [`user:${user}`, ...(address ? [`addr:${address}`] : [])]) {
      const s = this.state(key);
      this.prune(s, now);
      s.failures.push(now);
    }
    const acct = this.state(`user:${user}`);
    const p = this.policy;
    if (p.lockoutAfter > 0 && acct.failures.length >= p.lockoutAfter && acct.lockedUntil <= now) {
      acct.lockedUntil = now + p.lockoutMs;
      acct.failures = [];
      return true;
    }
    this.forgetIdle(now);
    return false;
  }

  /** A correct password: the account's failures are forgotten (the address's are not). */
  succeeded(user: string) {
    const s = this.keys.get(`user:${user}`);
    if (s) s.failures = [];
  }

  /** Bounded memory: keys with nothing to remember go (checked when many accumulate). */
  private forgetIdle(now: number) {
    if (this.keys.size < 1000) return;
    for (const [key, s] of this.keys) {
      this.prune(s, now);
      if (!s.failures.length && s.lockedUntil <= now && !s.inFlight && !s.waiters.length)
        this.keys.delete(key);
    }
  }
}

/** Command-line flag, environment variable and policy field of each setting. */
export const LOGIN_POLICY_FLAGS: [flag: string, env: string, field: keyof LoginPolicy][] = [
  ['auth-window-ms', 'BERTH_AUTH_WINDOW_MS', 'windowMs'],
  ['auth-account-backoff-after', 'BERTH_AUTH_ACCOUNT_BACKOFF_AFTER', 'accountBackoffAfter'],
  ['auth-address-backoff-after', 'BERTH_AUTH_ADDRESS_BACKOFF_AFTER', 'addressBackoffAfter'],
  ['auth-backoff-base-ms', 'BERTH_AUTH_BACKOFF_BASE_MS', 'backoffBaseMs'],
  ['auth-backoff-cap-ms', 'BERTH_AUTH_BACKOFF_CAP_MS', 'backoffCapMs'],
  ['auth-lockout-after', 'BERTH_AUTH_LOCKOUT_AFTER', 'lockoutAfter'],
  ['auth-lockout-ms', 'BERTH_AUTH_LOCKOUT_MS', 'lockoutMs'],
];

/** The policy from parsed flags and the environment (flags win); throws on a bad number. */
export function loginPolicyFrom(
  values: Record<string, string | boolean | undefined>,
  env: NodeJS.ProcessEnv,
): LoginPolicy {
  const policy = { ...DEFAULT_LOGIN_POLICY };
  for (const [flag, name, field] of LOGIN_POLICY_FLAGS) {
    const raw = values[flag] ?? env[name];
    if (raw === undefined || raw === '') continue;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0) throw new Error(`invalid --${flag}: ${raw}`);
    policy[field] = n;
  }
  return policy;
}
