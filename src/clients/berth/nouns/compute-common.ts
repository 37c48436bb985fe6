// Helpers the compute nouns (vm, template, snapshot, vdi, vbd, vif) share: the one selected
// object, long operations run as tasks with their progress drawn on a terminal, waiting for a
// power state, and objects named by uuid or name in verb options (`--sr`, `--network`, `-H`).
import { XenApiError } from '../../../shared/errors.js';
import type { Api, ApiObject } from '../api.js';
import { CliError, notFoundError } from '../errors.js';
import type { Output, VerbSpec } from '../spec.js';

export const NULL_REF = 'OpaqueRef:NULL';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const POLL_MS = 250;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The object of a `target: 'one'` verb. */
export function single(target: ApiObject | ApiObject[] | undefined): ApiObject {
  if (!target || Array.isArray(target)) throw new CliError('validation failed');
  return target;
}

/** Every object of a `target: 'many'` verb. */
export function many(target: ApiObject | ApiObject[] | undefined): ApiObject[] {
  return Array.isArray(target) ? target : target ? [target] : [];
}

/** A VM that is neither a template, a snapshot nor a control domain (the `vm` noun's objects). */
export const isPlainVm = (r: Record<string, unknown>) =>
  !r.is_a_template && !r.is_a_snapshot && !r.is_control_domain;

/** The value of a task's `result` (an XML-RPC fragment): refs in it, in order. */
export function refsInResult(xml: string): string[] {
  return [...String(xml).matchAll(/OpaqueRef:[0-9A-Za-z-]+/g)].map((m) => m[0]);
}

/**
 * Waits for `task` to finish, reporting its progress (a bar on a terminal): its result on
 * success, the task's XenAPI error otherwise. The task is destroyed afterwards.
 */
export async function waitTask(api: Api, task: string, out: Output, label: string): Promise<string> {
  try {
    for (;;) {
      const t = (await api.call('task.get_record', task)) as Record<string, unknown>;
      if (t.status === 'pending') {
        out.progress(label, Number(t.progress ?? 0));
        await sleep(POLL_MS);
        continue;
      }
      if (t.status === 'success') return String(t.result ?? '');
      if (t.status === 'cancelled') throw new XenApiError('TASK_CANCELLED', [task]);
      const info = (t.error_info as string[] | undefined) ?? [];
      throw new XenApiError(info[0] ?? 'INTERNAL_ERROR', info.slice(1));
    }
  } finally {
    // The bar ends whatever happened (a lost connection included).
    out.progressDone();
    await api.call('task.destroy', task).catch(() => undefined);
  }
}

/** Runs `Async.<method>` and waits for it with a progress bar labelled `label`. */
export async function runTask(
  api: Api,
  out: Output,
  label: string,
  method: string,
  ...params: unknown[]
): Promise<string> {
  return waitTask(api, await api.callAsync(method, ...params), out, label);
}

/**
 * Polls the VM's power state until it is `state` (xapi's names: Halted, Running, Paused,
 * Suspended); `timeoutMs` 0 waits for ever, as oVirtCmd's wait_for.
 */
export async function waitPowerState(api: Api, vm: string, state: string, timeoutMs = 0): Promise<void> {
  const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Number.POSITIVE_INFINITY;
  for (;;) {
    const now = String(await api.call('VM.get_power_state', vm));
    if (now.toLowerCase() === state.toLowerCase()) return;
    if (Date.now() > deadline)
      throw new CliError(`timed out waiting for power state ${state} (still ${now})`);
    await sleep(500);
  }
}

/**
 * The ref of the `cls` object a verb option names: a uuid, else a name_label (exactly one).
 * `what` names it in the messages (`no SR found matching 'x'`).
 */
export async function refOf(api: Api, cls: string, text: string, what = cls): Promise<string> {
  if (UUID_RE.test(text)) {
    try {
      return (await api.call(`${cls}.get_by_uuid`, text)) as string;
    } catch (e) {
      if (!(e instanceof XenApiError) || e.code !== 'UUID_INVALID') throw e;
      throw notFoundError(`no ${what} found matching '${text}'`);
    }
  }
  const refs = (await api.call(`${cls}.get_by_name_label`, text)) as string[];
  if (refs.length === 0) throw notFoundError(`no ${what} found matching '${text}'`);
  if (refs.length > 1) throw new CliError(`Too many ${what} objects found matching '${text}'`);
  return refs[0];
}

/** The pool's default SR, or a clear error when it has none and the user gave no `--sr`. */
export async function defaultSr(api: Api): Promise<string> {
  const [pool] = (await api.call('pool.get_all')) as string[];
  const sr = (await api.call('pool.get_default_SR', pool)) as string;
  if (!sr || sr === NULL_REF) throw new CliError('no SR given (--sr) and the pool has no default SR');
  return sr;
}

/**
 * A new VM from `vm` (a VM or a template): `VM.clone` (fast, copy-on-write where the SR can), or
 * with `sr` `VM.copy` (full copies of the disks into that SR), as a task with a progress bar.
 * Returns the new VM's ref.
 */
export async function cloneOrCopyVm(
  api: Api,
  out: Output,
  vm: string,
  name: string,
  sr?: string,
): Promise<string> {
  const result = sr
    ? await runTask(api, out, 'copy', 'VM.copy', vm, name, await refOf(api, 'SR', sr))
    : await runTask(api, out, 'clone', 'VM.clone', vm, name);
  return refsInResult(result)[0] ?? result;
}

/** A text option of a verb, when present and not empty. */
export function optText(opts: Record<string, unknown>, key: string): string | undefined {
  const v = opts[key];
  if (v === undefined || v === null || v === '') return undefined;
  return String(v);
}

/**
 * A repeatable option as a list (a template may give one value or a list); empty entries (a
 * template's `${network:}` left unset) are dropped.
 */
export function optList(opts: Record<string, unknown>, key: string): string[] {
  const v = opts[key];
  if (v === undefined || v === null) return [];
  return (Array.isArray(v) ? v : [v]).map((x) => String(x)).filter((x) => x !== '');
}

/** A simple verb calling one message on the selected object (and printing nothing). */
export function actionVerb(
  name: string,
  summary: string,
  method: string,
  extra: unknown[] = [],
  more: Partial<VerbSpec> = {},
): VerbSpec {
  return {
    name,
    summary,
    target: 'one',
    ...more,
    run: async (ctx, target) => {
      await ctx.api.call(method, single(target).ref, ...extra);
      return undefined;
    },
  };
}
