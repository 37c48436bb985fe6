// The manager-side `linux` plugin of agent sessions: each DATA body of the agent's linux device
// plugin (LinuxHostOutputs with the sources that did not change since they were last sent as null,
// IML's _delta_result) is merged with the last full body and reported with reportLinuxHost.
import type { Plugin } from '../../../shared/storage-resources/api/plugin.js';
import { Plugin as PluginBase } from '../../../shared/storage-resources/api/plugin.js';
import type { AnyResourceClass, InitOf, Resource } from '../../../shared/storage-resources/api/resource.js';
import {
  type LinuxHostOutputs,
  reportLinuxHost,
} from '../../../shared/storage-resources/builtin/linux-host.js';
import { ToolOutputError } from '../../../shared/storage-resources/builtin/output-error.js';

const TOOL = 'linux device plugin';

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Keys of a body and the JSON shape each must have (null: unchanged since last sent). */
const SHAPES: Record<keyof LinuxHostOutputs, (v: unknown) => boolean> = {
  lsblk: (v) => typeof v === 'string',
  lvm: (v) => isObject(v) && ['vgs', 'lvs', 'pvs'].every((k) => typeof v[k] === 'string'),
  mdadmDetails: (v) => Array.isArray(v) && v.every((x) => typeof x === 'string'),
  zfs: (v) => isObject(v) && typeof v.zpoolList === 'string' && typeof v.zfsList === 'string',
  smartInformation: (v) => typeof v === 'string',
  mountinfo: (v) => typeof v === 'string',
  sysClassNet: isObject,
  kalrayDpu: (v) =>
    isObject(v) &&
    typeof v.server === 'string' &&
    Number.isInteger(v.port) &&
    ['devices', 'raids', 'lvs'].every((k) => typeof v[k] === 'string'),
};

/** A DATA body checked (it crossed from the agent): known keys of the right shape, or null. */
export function linuxBodyArg(body: unknown): Partial<Record<keyof LinuxHostOutputs, unknown>> {
  if (!isObject(body)) throw new ToolOutputError(TOOL, 'body is not an object');
  for (const [k, v] of Object.entries(body)) {
    const shape = SHAPES[k as keyof LinuxHostOutputs];
    if (!shape) throw new ToolOutputError(TOOL, `unknown source ${JSON.stringify(k).slice(0, 60)}`);
    if (v !== null && !shape(v)) throw new ToolOutputError(TOOL, `source ${k} is not of its shape`);
  }
  return body as Partial<Record<keyof LinuxHostOutputs, unknown>>;
}

/**
 * A delta merged with the last full body: a null source is the last one's; a source left out is
 * absent now (its tool is gone). A null the last body never had is an error: the session is reset.
 */
export function mergeLinuxBody(
  last: LinuxHostOutputs | null,
  body: Partial<Record<keyof LinuxHostOutputs, unknown>>,
): LinuxHostOutputs {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    if (v !== null) out[k] = v;
    else if (last && k in last) out[k] = last[k as keyof LinuxHostOutputs];
    else throw new ToolOutputError(TOOL, `source ${k} sent as unchanged but never sent`);
  }
  return out as LinuxHostOutputs;
}

export class LinuxAgentPlugin extends PluginBase {
  static override internal = true;
  /** The last full body, merged. */
  #last: LinuxHostOutputs | null = null;
  /** Resources reported by the round in progress. */
  #seen = new Set<Resource>();
  /** Resources the last continue no longer reported: the session must be re-opened to cull them. */
  vanished: Resource[] = [];

  override initialScan(): void {
    throw new Error('the linux plugin is fed by host agents: it has no initial scan');
  }

  override agentSessionStart(hostId: number, data: unknown): void {
    this.#round(hostId, mergeLinuxBody(null, linuxBodyArg(data)));
  }

  override agentSessionContinue(hostId: number, data: unknown): void {
    this.#round(hostId, mergeLinuxBody(this.#last, linuxBodyArg(data)));
  }

  /** The body the session's resources reflect (a new session on the same data starts from it). */
  get lastBody(): LinuxHostOutputs | null {
    return this.#last;
  }

  override updateOrCreate<C extends AnyResourceClass>(
    klass: C,
    attrs: InitOf<C>,
    parents: readonly Resource[] = [],
  ): { resource: InstanceType<C>; created: boolean } {
    const r = super.updateOrCreate(klass, attrs, parents);
    this.#seen.add(r.resource);
    return r;
  }

  #round(hostId: number, body: LinuxHostOutputs): void {
    this.#seen = new Set();
    const [root] = this.reportedResources();
    reportLinuxHost(this as Plugin, root, hostId, body);
    this.#last = body;
    this.vanished = this.reportedResources().filter((r) => r !== root && !this.#seen.has(r));
  }
}
