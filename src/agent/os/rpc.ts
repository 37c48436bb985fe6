// The OS procedures as the agent serves them (src/shared/host/os.ts). The RPC is a trust
// boundary: the instance argument is checked field by field, disk paths are confined to the
// storage roots (or Berth LVM volumes), OS names are one path component looked up only in the
// allow-listed search paths, parameters must be declared by the definition, and scripts run with
// argument arrays, a cleared environment and a time limit.
import { join } from 'node:path';
import { XenApiError } from '../../shared/errors.js';
import type { OsDisk, OsInstance, OsNic, OsRunResult } from '../../shared/host/os.js';
import { diskMirrorTarget } from '../migration/disk-mirror-rpc.js';
import { UUID_RE } from '../qemu/spec-check.js';
import type { Procedure } from '../server.js';
import { checkParams, diagnose, type OsScript, resolveOs, splitOsName } from './definition.js';
import { attachDisks, detachDisks } from './disks.js';
import { coreEnv, instanceEnv } from './environment.js';
import { failureReason, logTail, runScript } from './run-script.js';

export interface OsOptions {
  /** Directories holding OS definitions (default: /srv/berth/os, then STATE-ROOT/os). */
  searchPaths: readonly string[];
  /** Where script logs go (default LOG-ROOT/os). */
  logDir: string;
  /** Where raw copies of qcow2 volumes live during a run (default STATE-ROOT/os-work). */
  workDir: string;
  /** Longest run of one script, milliseconds (default 1 h; a call may ask for less). */
  timeoutMs: number;
}

export const DEFAULT_OS_TIMEOUT_MS = 60 * 60_000;

const bad = (field: string, v: unknown, why?: string) =>
  new XenApiError('INVALID_VALUE', [
    field,
    typeof v === 'string' ? v : (JSON.stringify(v) ?? 'undefined'),
    ...(why ? [why] : []),
  ]);

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const SAFE_TEXT = (v: unknown, max = 255) => typeof v === 'string' && v.length <= max && !/[\0\n\r]/.test(v);

function stringMap(field: string, v: unknown): Record<string, string> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw bad(field, v);
  for (const [k, x] of Object.entries(v)) if (typeof x !== 'string') throw bad(`${field}.${k}`, x);
  return v as Record<string, string>;
}

/** The instance argument, checked (INVALID_VALUE [field, value, why] for the first problem). */
export function checkInstance(v: unknown, storageRoots: readonly string[]): OsInstance {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw bad('instance', v);
  const o = v as Record<string, unknown>;
  if (typeof o.uuid !== 'string' || !UUID_RE.test(o.uuid)) throw bad('instance.uuid', o.uuid);
  if (!SAFE_TEXT(o.name) || o.name === '')
    throw bad('instance.name', o.name, 'no NUL or newline, 1-255 characters');
  splitOsName(o.os as string);
  if (!Array.isArray(o.disks) || o.disks.length > 64) throw bad('instance.disks', o.disks);
  const disks: OsDisk[] = o.disks.map((d: unknown, i: number) => {
    const x = (d ?? {}) as Record<string, unknown>;
    const t = diskMirrorTarget(`instance.disks.${i}`, { path: x.path, format: x.format }, storageRoots);
    if (typeof x.readonly !== 'boolean') throw bad(`instance.disks.${i}.readonly`, x.readonly);
    if (x.uuid !== undefined && !SAFE_TEXT(x.uuid, 64)) throw bad(`instance.disks.${i}.uuid`, x.uuid);
    if (x.name !== undefined && !SAFE_TEXT(x.name)) throw bad(`instance.disks.${i}.name`, x.name);
    return {
      ...t,
      readonly: x.readonly,
      uuid: x.uuid as string | undefined,
      name: x.name as string | undefined,
    };
  });
  if (!Array.isArray(o.nics) || o.nics.length > 64) throw bad('instance.nics', o.nics);
  const nics: OsNic[] = o.nics.map((n: unknown, i: number) => {
    const x = (n ?? {}) as Record<string, unknown>;
    if (typeof x.mac !== 'string' || !MAC_RE.test(x.mac)) throw bad(`instance.nics.${i}.mac`, x.mac);
    for (const k of ['bridge', 'uuid', 'name'])
      if (x[k] !== undefined && !SAFE_TEXT(x[k])) throw bad(`instance.nics.${i}.${k}`, x[k]);
    return { mac: x.mac, bridge: x.bridge as string, uuid: x.uuid as string, name: x.name as string };
  });
  if (o.primaryNode !== undefined && !SAFE_TEXT(o.primaryNode))
    throw bad('instance.primaryNode', o.primaryNode);
  if (o.timeoutMs !== undefined && (!Number.isInteger(o.timeoutMs) || (o.timeoutMs as number) < 1))
    throw bad('instance.timeoutMs', o.timeoutMs);
  const beParams = stringMap('instance.beParams', o.beParams);
  for (const k of Object.keys(beParams)) if (!/^[a-z0-9_]{1,32}$/.test(k)) throw bad('instance.beParams', k);
  return {
    uuid: o.uuid,
    name: o.name as string,
    os: o.os as string,
    osParams: stringMap('instance.osParams', o.osParams),
    disks,
    nics,
    primaryNode: o.primaryNode as string | undefined,
    beParams,
    timeoutMs: o.timeoutMs as number | undefined,
  };
}

const debugLevel = (v: unknown) =>
  Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 9 ? (v as number) : 0;

/** Runs `script` of the instance's OS against its attached disks; its log kept under logDir. */
async function runOnDisks(
  opts: OsOptions,
  inst: OsInstance,
  script: OsScript,
  kind: string,
  extraEnv: Record<string, string>,
  debug: number,
): Promise<OsRunResult> {
  const started = performance.now();
  const { def, variant, api } = resolveOs(opts.searchPaths, inst.os);
  checkParams(def, inst.osParams);
  const osFull = variant ? `${def.name}+${variant}` : def.name;
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const log = join(opts.logDir, `${kind}-${def.name}-${inst.uuid}-${stamp}.log`);
  const timeoutMs = Math.min(inst.timeoutMs ?? opts.timeoutMs, opts.timeoutMs);
  const file = script === 'create' && !def.trusted ? 'create_untrusted' : script;
  const atts = await attachDisks(inst.disks, opts.workDir);
  let ok = false;
  try {
    const env = {
      ...instanceEnv({ ...inst, os: osFull }, coreEnv(osFull, variant, api, inst.osParams, debug), atts),
      ...extraEnv,
    };
    const r = await runScript(join(def.path, file), [], { env, cwd: def.path, log, timeoutMs });
    const why = failureReason(r, timeoutMs);
    if (why)
      throw new XenApiError('OS_SCRIPT_FAILED', [
        osFull,
        file,
        `OS ${file} script failed (${why})`,
        logTail(log),
        log,
      ]);
    ok = true;
    await detachDisks(atts, true);
    return { log, scriptMs: Math.round(r.ms), totalMs: Math.round(performance.now() - started) };
  } finally {
    if (!ok) await detachDisks(atts, false).catch(() => undefined);
  }
}

/** The OS procedures, spread into the agent's procedure table. */
export function osProcedures(opts: OsOptions, storageRoots: readonly string[]): Record<string, Procedure> {
  return {
    os_diagnose: () => diagnose(opts.searchPaths),
    os_get: (name: unknown) => resolveOs(opts.searchPaths, name as string).def,
    os_validate: async (required: unknown, name: unknown, checks: unknown, params: unknown) => {
      if (typeof required !== 'boolean') throw bad('required', required);
      if (!Array.isArray(checks) || checks.some((c) => c !== 'parameters'))
        throw bad('checks', checks, "the only check is 'parameters'");
      const osParams = stringMap('params', params);
      const { name: base } = splitOsName(name as string);
      let resolved: ReturnType<typeof resolveOs>;
      try {
        resolved = resolveOs(opts.searchPaths, name as string);
      } catch (e) {
        // A missing OS is no failure unless required (Ganeti's ValidateOS).
        if (!required && String((e as XenApiError).params?.[2]).startsWith(`no OS definition '${base}'`))
          return false;
        throw e;
      }
      const { def, variant, api } = resolved;
      if (api < 20) return true;
      if (checks.includes('parameters')) checkParams(def, osParams);
      const full = variant ? `${def.name}+${variant}` : def.name;
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      const log = join(opts.logDir, `verify-${def.name}-${stamp}.log`);
      const r = await runScript(join(def.path, 'verify'), checks as string[], {
        env: coreEnv(full, variant, api, osParams, 0),
        cwd: def.path,
        log,
        timeoutMs: Math.min(opts.timeoutMs, 5 * 60_000),
      });
      const why = failureReason(r, opts.timeoutMs);
      if (why)
        throw new XenApiError('OS_SCRIPT_FAILED', [
          full,
          'verify',
          `OS verify script failed (${why})`,
          logTail(log),
          log,
        ]);
      return true;
    },
    instance_os_add: (instance: unknown, reinstall: unknown, debug: unknown) => {
      const inst = checkInstance(instance, storageRoots);
      return runOnDisks(
        opts,
        inst,
        'create',
        'add',
        reinstall === true ? { INSTANCE_REINSTALL: '1' } : {},
        debugLevel(debug),
      );
    },
    instance_run_rename: (instance: unknown, oldName: unknown, debug: unknown) => {
      const inst = checkInstance(instance, storageRoots);
      if (!SAFE_TEXT(oldName) || oldName === '') throw bad('old_name', oldName);
      return runOnDisks(
        opts,
        inst,
        'rename',
        'rename',
        { OLD_INSTANCE_NAME: oldName as string },
        debugLevel(debug),
      );
    },
  };
}
