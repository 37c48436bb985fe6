// A two-host pool for live-migration tests and bench:migrate: two namespaced hosts
// (pool-harness.ts), host 2 joined to host 1, a shared `file` SR on one directory both agents
// have within their --sr-root (as test/e2e/pool-shared-sr.test.ts), each host's own local SR
// directory too, and test-guest VMs. The guest's serial console is recorded with timestamps
// through guest-counter.ts, one tap per QEMU (the socket under that host's run directory).
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { XenApiClient } from '../../src/clients/sdk/client.js';
import { defaultTemplates } from '../../src/manager/bootstrap/templates.js';
import { baseVmRecord } from '../../src/manager/bootstrap/vm-record.js';
import { killQemusUnder, typeLine } from '../agent/helpers/guest.js';
import type { ConsoleRecorder, SerialTap } from './guest-counter.js';
import { type Harness, hostLive, type PoolHost, startHosts } from './pool-harness.js';
import { ensureGuest, GUEST_DIR, waitFor } from './stack.js';

const MiB = 1024 * 1024;

export interface MigrationPool {
  pool: Harness;
  hosts: [PoolHost, PoolHost];
  /** host refs, in the order of `hosts`. */
  refs: [string, string];
  master: XenApiClient;
  /** The shared file SR both hosts reach ('' with opts.sharedSr false). */
  sharedSr: string;
  /** The directory both agents have as an SR root (the shared SR's is its `sr` subdirectory). */
  sharedDir: string;
  /** Each host's local file SR (not shared), in the order of `hosts` (opts.localSrs; else ''). */
  localSrs: [string, string];
}

/** The after-hook part of a TestContext (benches pass their own). */
export type AfterHooks = Pick<TestContext, 'after'>;

export async function startMigrationPool(
  t: AfterHooks,
  opts: {
    logLevel?: string;
    localSrs?: boolean;
    /** Create the shared SR (default true). */
    sharedSr?: boolean;
    networking?: boolean;
    env?: NodeJS.ProcessEnv;
  } = {},
): Promise<MigrationPool> {
  await ensureGuest();
  const shared = mkdtempSync(join(tmpdir(), 'berth-migrate-shared-'));
  let pool: Harness;
  try {
    pool = await startHosts(2, {
      t: t as TestContext, // its stop() runs first of the hooks registered here
      logLevel: opts.logLevel,
      networking: opts.networking,
      env: opts.env,
      // Local SRs under the host's directory (made 0711 below), not its 0700 data directory.
      agentArgs: (h) => [
        '--sr-root',
        shared,
        '--sr-root',
        join(h.dataDir, 'sr'),
        '--sr-root',
        join(h.dir, 'local'),
      ],
    });
  } catch (e) {
    rmSync(shared, { recursive: true, force: true });
    throw e;
  }
  for (const h of pool.hosts) t.after(() => killQemusUnder(h.runDir));
  // QEMU runs as its own user: a destination's migration directory must be reachable through these.
  for (const dir of [pool.dir, ...pool.hosts.map((h) => h.dir)]) chmodSync(dir, 0o711);
  // After every daemon and QEMU is gone (hooks run in registration order).
  t.after(() => rmSync(shared, { recursive: true, force: true }));
  const [a, b] = pool.hosts;
  await (await b.client()).call('pool.join', a.address, 'root', a.rootPassword());
  const master = await a.client();
  const refOf = async (h: PoolHost) => {
    for (const ref of await master.call('host.get_all'))
      if ((await master.call('host.get_address', ref)) === h.address) return String(ref);
    throw new Error(`${h.hostname} is not in the pool`);
  };
  const refs: [string, string] = [await refOf(a), await refOf(b)];
  await waitFor(
    async () => (await hostLive(master, refs[0])) && hostLive(master, refs[1]),
    60_000,
    'two hosts live',
  );
  const sharedSr =
    opts.sharedSr === false
      ? ''
      : String(
          await master.call(
            'SR.create',
            refs[0],
            { location: join(shared, 'sr') },
            0,
            'shared',
            '',
            'file',
            'user',
            true,
            {},
          ),
        );
  const localSrs = ['', ''] as [string, string];
  for (const [i, h] of opts.localSrs ? [a, b].entries() : [])
    localSrs[i] = String(
      await master.call(
        'SR.create',
        refs[i],
        { location: join(h.dir, 'local', 'sr') },
        0,
        `local ${h.hostname}`,
        '',
        'file',
        'user',
        false,
        {},
      ),
    );
  return { pool, hosts: [a, b], refs, master, sharedSr, sharedDir: shared, localSrs };
}

/**
 * A halted test-guest VM, with `memoryMiB` of RAM (static = dynamic: no balloon) or, without it,
 * the guest template's memory.
 */
export async function createGuestVm(
  c: XenApiClient,
  name: string,
  memoryMiB?: number,
): Promise<{ vm: string; uuid: string }> {
  const guest = defaultTemplates(GUEST_DIR)[0].record;
  const mem = memoryMiB === undefined ? undefined : memoryMiB * MiB;
  const memory =
    mem === undefined
      ? {}
      : { memory_static_min: mem, memory_static_max: mem, memory_dynamic_min: mem, memory_dynamic_max: mem };
  const vm = String(
    await c.call('VM.create', baseVmRecord({ ...guest, name_label: name, ...memory }) as never),
  );
  return { vm, uuid: String(await c.call('VM.get_uuid', vm)) };
}

/** What VM `uuid`'s serial console has logged on host h so far ('' before it has). */
export function consoleLog(h: PoolHost, uuid: string): string {
  try {
    return readFileSync(join(h.logDir, 'vms', `${uuid}.log`), 'utf8');
  } catch {
    return '';
  }
}

/** Types `line` on the guest's serial console on host h; resolves once `re` appears after it. */
export async function guestShell(
  h: PoolHost,
  uuid: string,
  line: string,
  re: RegExp,
  ms = 60_000,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const from = consoleLog(h, uuid).length;
    await typeLine(serialSocket(h, uuid), line);
    try {
      await waitFor(() => re.test(consoleLog(h, uuid).slice(from)), ms / 4, `${re} on ${h.hostname}`);
      return;
    } catch (e) {
      if (attempt === 3) throw e; // a loaded TCG guest may drop a line's tail: type it again
    }
  }
}

/** Waits for the task to end (neither pending nor cancelling); returns its record. */
export async function taskSettled(c: XenApiClient, task: string, ms: number) {
  await waitFor(
    async () => !['pending', 'cancelling'].includes(String(await c.call('task.get_status', task as never))),
    ms,
    'the task to end',
  );
  return (await c.call('task.get_record', task as never)) as unknown as Record<string, unknown>;
}

/** The serial socket of VM `uuid`'s QEMU under host h's agent. */
export function serialSocket(h: PoolHost, uuid: string): string {
  return join(h.runDir, uuid, 'serial.sock');
}

/**
 * Runs `migrate` while a tap waits for the destination QEMU's serial socket and connects to it
 * (before the switch-over: the destination's QEMU listens from the start of the migration).
 * Returns what `migrate` returned, the new tap and how long `migrate` took.
 */
export async function migrateWatched<T>(
  rec: ConsoleRecorder,
  dst: PoolHost,
  uuid: string,
  side: string,
  migrate: () => Promise<T>,
): Promise<{ result: T; tap: SerialTap; ms: number }> {
  let done = false;
  const tapping = rec.tap(serialSocket(dst, uuid), side, 600_000, () => done);
  tapping.catch(() => undefined);
  const t0 = performance.now();
  let result: T;
  try {
    result = await migrate();
  } catch (e) {
    done = true;
    throw e;
  }
  const ms = performance.now() - t0;
  setTimeout(() => {
    done = true;
  }, 10_000).unref();
  const tap = await Promise.race([
    tapping,
    new Promise<never>((_, reject) =>
      setTimeout(() => reject(new Error('no destination serial socket')), 10_000),
    ),
  ]);
  return { result, tap, ms };
}
