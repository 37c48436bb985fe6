// The hooks and iallocator part of the host contract (issue 18), after Ganeti's node daemon
// (reference: ../shared/reference/ganeti-noded.md §9; docs/hooks.md). Each host's agent holds an
// allow-listed hooks directory (agent option `hooks.dir`, default /etc/berth/hooks) and an
// allow-listed iallocator directory (default /etc/berth/iallocators); the manager asks it to run
// the site scripts around XenAPI operations and, for VM placement, an external allocator.
//
//   const results = await agent.hooks.hooks_runner('vm-start', 'pre', { BERTH_VM_UUID: … });
//   // → [{ name: 'vm-start-pre.d/10-check', status: 'fail', exit_code: 1, output: '…' }]
//   const answer = await agent.hooks.iallocator_runner('least-loaded', JSON.stringify(request));
//
// Ganeti's rules kept: scripts run from `<dir>/<hpath>-<phase>.d/` in lexicographic order, only
// names matching ^[a-zA-Z0-9_-]+$ that are executable regular files (others are skipped), no
// arguments, stdin /dev/null, the environment reset to the one given (plus a fixed PATH); a
// missing directory is no hooks at all ([]). Berth adds: a time limit per script (killed with its
// process group: status fail), output bounded to its tail, and env names confined to BERTH_*.

/** Hook phases, Ganeti's. */
export type HookPhase = 'pre' | 'post';

/** Ganeti's per-script status (its 0 = skip, 1 = fail, 2 = success). */
export type HookStatus = 'skip' | 'fail' | 'success';

/** One script's outcome. */
export interface HookResult {
  /** `<hpath>-<phase>.d/<name>`, as Ganeti names it. */
  name: string;
  status: HookStatus;
  /** Exit status; null when skipped, killed (time limit) or not started. */
  exit_code: number | null;
  /** Its stdout and stderr, interleaved, the last HOOK_OUTPUT_MAX bytes (why, for a skip). */
  output: string;
  /** The time limit ended it. */
  timed_out: boolean;
}

/** What an agent reports of one hooks directory (`xe host-hooks-list`). */
export interface HookScriptInfo {
  /** `<hpath>-<phase>.d` */
  dir: string;
  /** The script's file name. */
  name: string;
  /** Would it run (name rule and executable regular file), and if not, why not. */
  runnable: boolean;
  reason: string;
}

/** The tail of a script's output kept (bytes). */
export const HOOK_OUTPUT_MAX = 4096;
/** An iallocator's answer kept at most (bytes): beyond it the answer is refused as garbage. */
export const IALLOCATOR_OUTPUT_MAX = 1024 * 1024;

/** Operation paths (Ganeti's `hpath`): lower-case words joined by `-`, e.g. `vm-start`. */
export const HOOK_PATH_RULE = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
/** Script and iallocator names Ganeti runs (constants.EXT_PLUGIN_MASK). */
export const HOOK_SCRIPT_RULE = /^[a-zA-Z0-9_-]+$/;
/** Names of the variables a hook may be given. */
export const HOOK_ENV_RULE = /^BERTH_[A-Z0-9_]+$/;

export interface HooksProcedures {
  /**
   * Runs `<hooks dir>/<hpath>-<phase>.d/*` with `env` (Ganeti's hooks_runner). INVALID_VALUE for
   * an hpath outside HOOK_PATH_RULE (no `/`, no `..`), a phase other than pre/post, or an env
   * name outside HOOK_ENV_RULE; `timeoutMs` (optional) shortens the agent's per-script limit.
   */
  hooks_runner(
    hpath: string,
    phase: HookPhase,
    env: Record<string, string>,
    timeoutMs?: number,
  ): Promise<HookResult[]>;
  /** Every file of every `*-pre.d`/`*-post.d` directory of the hooks dir, and whether it would run. */
  hooks_list(): Promise<HookScriptInfo[]>;
  /**
   * Runs the iallocator `name` (a file of the agent's iallocator dir, HOOK_SCRIPT_RULE) with its
   * input written to a temp file given as its only argument (Ganeti's iallocator_runner), and
   * returns its stdout. A missing or non-executable allocator, a non-zero exit or the time limit:
   * IALLOCATOR_FAILED [name, why, output tail] (Berth's code, after Ganeti's message
   * "iallocator module '<n>' failed").
   */
  iallocator_runner(name: string, input: string): Promise<string>;
}

export type HooksProcedureName = keyof HooksProcedures;

export const HOOKS_PROCEDURES = [
  'hooks_runner',
  'hooks_list',
  'iallocator_runner',
] as const satisfies readonly HooksProcedureName[];

type Unlisted = Exclude<HooksProcedureName, (typeof HOOKS_PROCEDURES)[number]>;
const allListed: [Unlisted] extends [never] ? true : Unlisted = true;
void allListed;

/** The hooks procedures over an agent RPC `call` (the manager's client of a host's agent). */
export function hooksClient(call: (procedure: string, args: unknown[]) => Promise<unknown>): HooksProcedures {
  const out: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const name of HOOKS_PROCEDURES) out[name] = (...args: unknown[]) => call(name, args);
  return out as unknown as HooksProcedures;
}
