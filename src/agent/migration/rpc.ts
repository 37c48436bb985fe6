// The live-migration procedures as the agent serves them over its RPC (src/shared/host/
// migration.ts). The RPC is a trust boundary: every argument's type and shape is checked here
// (INVALID_VALUE [name, value] otherwise) before QEMU hears of it; addresses end up in QEMU URIs,
// so only IP addresses and host names pass.
import { isAbsolute, normalize } from 'node:path';
import { XenApiError } from '../../shared/errors.js';
import type {
  AcceptOptions,
  IncomingMigration,
  MigrationParams,
  MigrationProcedureName,
} from '../../shared/host/migration.js';
import type { InstanceSpec } from '../../shared/noded/instance.js';
import { subjectAltName } from '../../shared/pki/pool-pki.js';
import { checkDeviceName, UUID_RE } from '../qemu/spec-check.js';
import type { Procedure } from '../server.js';
import type { MigrationContext } from './context.js';
import { abortMigration, finishDestination, finishSource, statusOf } from './finish.js';
import { acceptMigration } from './incoming.js';
import { startMigration } from './outgoing.js';

const bad = (name: string, v: unknown) =>
  new XenApiError('INVALID_VALUE', [name, JSON.stringify(v) ?? 'undefined']);

const record = (name: string, v: unknown): Record<string, unknown> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(name, v);
  return v as Record<string, unknown>;
};

const onlyKeys = (name: string, o: Record<string, unknown>, keys: readonly string[]) => {
  for (const k of Object.keys(o)) if (!keys.includes(k)) throw bad(`${name}.${k}`, o[k]);
};

export const uuidArg = (name: string, v: unknown): string => {
  if (typeof v !== 'string' || !UUID_RE.test(v)) throw bad(name, v);
  return v;
};

const boolArg = (name: string, v: unknown): boolean => {
  if (typeof v !== 'boolean') throw bad(name, v);
  return v;
};

/** A host address for a QEMU URI: an IP address or a DNS name (`''` where allowed). */
export function addressArg(name: string, v: unknown, allowEmpty: boolean): string {
  if (typeof v !== 'string') throw bad(name, v);
  if (v === '' && allowEmpty) return v;
  try {
    subjectAltName(v);
  } catch {
    throw bad(name, v);
  }
  return v;
}

const portArg = (name: string, v: unknown, min: number): number => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 65535) throw bad(name, v);
  return v;
};

/** A Unix socket the source connects to: absolute, normalised, an incoming socket's name. */
export function socketArg(name: string, v: unknown, base = 'in.sock'): string {
  if (
    typeof v !== 'string' ||
    !isAbsolute(v) ||
    normalize(v) !== v ||
    v.includes('\0') ||
    !v.endsWith(`/migration/${base}`) ||
    v.length > 107
  )
    throw bad(name, v);
  return v;
}

export function acceptOptions(name: string, v: unknown): AcceptOptions {
  const o = record(name, v);
  onlyKeys(name, o, ['address', 'mirror']);
  if (!Array.isArray(o.mirror)) throw bad(`${name}.mirror`, o.mirror);
  const mirror = o.mirror.map((m, i) => {
    const d = record(`${name}.mirror[${i}]`, m);
    onlyKeys(`${name}.mirror[${i}]`, d, ['device']);
    checkDeviceName(`${name}.mirror[${i}].device`, d.device);
    return { device: d.device as string };
  });
  return { address: addressArg(`${name}.address`, o.address, true), mirror };
}

export function incomingMigration(name: string, v: unknown): IncomingMigration {
  const o = record(name, v);
  onlyKeys(name, o, ['transport', 'address', 'port', 'socket', 'nbd']);
  if (o.transport === 'unix') {
    return {
      transport: 'unix',
      address: addressArg(`${name}.address`, o.address, true),
      port: portArg(`${name}.port`, o.port ?? 0, 0),
      socket: socketArg(`${name}.socket`, o.socket),
      ...(o.nbd === undefined || o.nbd === null ? {} : { nbd: nbdArg(`${name}.nbd`, o.nbd) }),
    };
  }
  if (o.transport !== 'tls') throw bad(`${name}.transport`, o.transport);
  if (o.socket !== undefined && o.socket !== null) throw bad(`${name}.socket`, o.socket);
  return {
    transport: 'tls',
    address: addressArg(`${name}.address`, o.address, false),
    port: portArg(`${name}.port`, o.port, 1),
    ...(o.nbd === undefined || o.nbd === null ? {} : { nbd: nbdArg(`${name}.nbd`, o.nbd) }),
  };
}

function nbdArg(name: string, v: unknown): NonNullable<IncomingMigration['nbd']> {
  const o = record(name, v);
  onlyKeys(name, o, ['address', 'port', 'socket', 'exports']);
  const exp = record(`${name}.exports`, o.exports);
  const exports: Record<string, string> = {};
  for (const [device, e] of Object.entries(exp)) {
    checkDeviceName(`${name}.exports`, device);
    if (typeof e !== 'string' || !/^[A-Za-z0-9._-]{1,128}$/.test(e))
      throw bad(`${name}.exports.${device}`, e);
    exports[device] = e;
  }
  const socket =
    o.socket === undefined || o.socket === null
      ? undefined
      : socketArg(`${name}.socket`, o.socket, 'nbd.sock');
  return {
    address: addressArg(`${name}.address`, o.address, true),
    port: portArg(`${name}.port`, o.port, 0),
    ...(socket ? { socket } : {}),
    exports,
  };
}

/** QEMU's downtime-limit range, milliseconds. */
export const MAX_DOWNTIME_MS = 2_000_000;

export function migrationParams(name: string, v: unknown): MigrationParams {
  const o = record(name, v);
  onlyKeys(name, o, ['live', 'downtimeMs', 'bandwidth']);
  const downtime = o.downtimeMs;
  if (
    typeof downtime !== 'number' ||
    !Number.isFinite(downtime) ||
    downtime < 0 ||
    downtime > MAX_DOWNTIME_MS
  )
    throw bad(`${name}.downtimeMs`, downtime);
  const bw = o.bandwidth;
  if (typeof bw !== 'number' || !Number.isSafeInteger(bw) || bw < 0) throw bad(`${name}.bandwidth`, bw);
  return { live: boolArg(`${name}.live`, o.live), downtimeMs: downtime, bandwidth: bw };
}

/** The procedures of a migration between hosts (instance_disk_mirror: disk-mirror-rpc.ts). */
export function migrationProcedures(
  ctx: MigrationContext,
): Record<Exclude<MigrationProcedureName, 'instance_disk_mirror'>, Procedure> {
  return {
    // The spec is checked by the instance manager (checkSpec), as for instance_start.
    instance_migration_accept: (spec: unknown, opts: unknown) =>
      acceptMigration(ctx, record('spec', spec) as unknown as InstanceSpec, acceptOptions('opts', opts)),
    instance_migrate: async (uuid: unknown, target: unknown, params: unknown) => {
      await startMigration(
        ctx,
        uuidArg('uuid', uuid),
        incomingMigration('target', target),
        migrationParams('params', params),
      );
      return null;
    },
    instance_migration_status: (uuid: unknown) => statusOf(ctx, uuidArg('uuid', uuid)),
    instance_migration_abort: async (uuid: unknown) => {
      await abortMigration(ctx, uuidArg('uuid', uuid));
      return null;
    },
    instance_migration_finish_dst: (uuid: unknown, success: unknown) =>
      finishDestination(ctx, uuidArg('uuid', uuid), boolArg('success', success)),
    instance_migration_finish_src: async (uuid: unknown, success: unknown) => {
      await finishSource(ctx, uuidArg('uuid', uuid), boolArg('success', success));
      return null;
    },
  };
}
