// OS definitions (Ganeti's OS interface, man ganeti-os-interface; reference:
// ../shared/reference/ganeti-noded.md §7) as part of the host contract. An OS definition is a
// directory under one of the agent's OS search paths holding `ganeti_api_version`, the scripts
// `create`, `import`, `export`, `rename` (and `verify` from API 20), optionally `variants.list`
// and `parameters.list`. The agent runs the scripts with the interface's environment against a
// VM's disks, attached to the host as block devices for the run (docs/os-definitions.md).

/** One (potential) OS definition found in the search path: os_diagnose's entry, as Ganeti's. */
export interface OsDefinition {
  /** The directory's name (an OS is named `name` or `name+variant`). */
  name: string;
  path: string;
  /** Whether the definition is usable. */
  valid: boolean;
  /** Why it is not (empty when valid). */
  diagnose: string;
  variants: string[];
  /** [name, help] of each parameter in parameters.list. */
  parameters: [string, string][];
  /** The API versions it declares that this agent also speaks (all declared ones when invalid). */
  api_versions: number[];
  /** No `create_untrusted` script: a trusted definition (Ganeti's flag). */
  trusted: boolean;
}

/** A disk the scripts see (DISK_<N>_*): the volume, attached to the host for the run. */
export interface OsDisk {
  /** The volume: an image file under the storage roots or a Berth LVM volume. */
  path: string;
  format: 'qcow2' | 'raw';
  readonly: boolean;
  /** VDI uuid and name (DISK_<N>_UUID / DISK_<N>_NAME); optional. */
  uuid?: string;
  name?: string;
}

/** A NIC the scripts see (NIC_<N>_*). */
export interface OsNic {
  mac: string;
  bridge?: string;
  uuid?: string;
  name?: string;
}

/** The instance an OS script works on (Ganeti's Instance with its osparams, as far as it applies). */
export interface OsInstance {
  uuid: string;
  /** INSTANCE_NAME (the VM's name_label; no NUL or newline). */
  name: string;
  /** `name` or `name+variant`. */
  os: string;
  /** OS parameters (OSP_<NAME>); every name must be in the definition's parameters.list. */
  osParams: Record<string, string>;
  disks: OsDisk[];
  nics: OsNic[];
  /** INSTANCE_PRIMARY_NODE (the host's name). */
  primaryNode?: string;
  /** INSTANCE_BE_<key> (maxmem, vcpus…). */
  beParams?: Record<string, string>;
  /** Milliseconds before the script is killed (bounded by the agent's own limit). */
  timeoutMs?: number;
}

/** What a successful script run leaves: its log file on the host. */
export interface OsRunResult {
  log: string;
  /** Wall time of the script itself, and of attaching and detaching the disks. */
  scriptMs: number;
  totalMs: number;
}

export interface OsProcedures {
  /** Every directory under the OS search paths, valid or not, with why not. */
  os_diagnose(): Promise<OsDefinition[]>;
  /**
   * One OS (`name` or `name+variant`): INVALID_VALUE ['os', name, why] if it is unknown, invalid,
   * or the variant is not one of its variants.
   */
  os_get(name: string): Promise<OsDefinition>;
  /**
   * Ganeti's os_validate: false when the OS is missing and not `required`; `checks` ⊆
   * ['parameters']: unknown parameters are refused, then `verify parameters` runs (API ≥ 20)
   * with the core environment. A failing verify is OS_SCRIPT_FAILED.
   */
  os_validate(
    required: boolean,
    name: string,
    checks: string[],
    params: Record<string, string>,
  ): Promise<boolean>;
  /**
   * Runs `create` (INSTANCE_REINSTALL=1 when `reinstall`) against the instance's disks. Failure:
   * OS_SCRIPT_FAILED [os, script, reason, log tail, log path]; the disks are detached either way.
   */
  instance_os_add(instance: OsInstance, reinstall: boolean, debug: number): Promise<OsRunResult>;
  /** Runs `rename` (OLD_INSTANCE_NAME) against the instance's disks. */
  instance_run_rename(instance: OsInstance, oldName: string, debug: number): Promise<OsRunResult>;
}

export type OsProcedureName = keyof OsProcedures;

export const OS_PROCEDURES = [
  'os_diagnose',
  'os_get',
  'os_validate',
  'instance_os_add',
  'instance_run_rename',
] as const satisfies readonly OsProcedureName[];

type Unlisted = Exclude<OsProcedureName, (typeof OS_PROCEDURES)[number]>;
const allListed: [Unlisted] extends [never] ? true : Unlisted = true;
void allListed;

/** The OS procedures over an agent RPC `call` (the manager's client of a host's agent). */
export function osClient(call: (procedure: string, args: unknown[]) => Promise<unknown>): OsProcedures {
  const out: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const name of OS_PROCEDURES) out[name] = (...args: unknown[]) => call(name, args);
  return out as unknown as OsProcedures;
}

/** The template other_config keys naming an OS definition (docs/os-definitions.md). */
export const OS_KEY = 'berth-os';
export const OS_PARAM_PREFIX = 'berth-os-param-';

/** The OS and its parameters a template's other_config names (pure); undefined if none. */
export function osFromOtherConfig(
  other: Record<string, string>,
): { os: string; params: Record<string, string> } | undefined {
  const os = other[OS_KEY];
  if (!os) return undefined;
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(other))
    if (k.startsWith(OS_PARAM_PREFIX)) params[k.slice(OS_PARAM_PREFIX.length)] = v;
  return { os, params };
}
