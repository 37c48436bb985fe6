// Checks a batch of reported resources before anything is written and orders it so that every
// resource comes after the resources it references (IML's _persist_new_resources order). Pure.
import {
  type AttributeValue,
  MAX_RESOURCE_LABEL_LENGTH,
  type ReportedResource,
  type ResourceClassInfo,
} from '../../shared/storage-resources/session.js';
import { ResourceStoreError } from './errors.js';

const isRef = (v: AttributeValue): v is { handle: number } => v !== null && typeof v === 'object';

/** Checks one resource's attribute values against its class (names, reference shapes). */
export function checkAttributes(
  cls: ResourceClassInfo,
  handle: number,
  attrs: Record<string, AttributeValue>,
  handleKnown: (h: number) => boolean,
): void {
  const where = `resource ${handle} (${cls.plugin}.${cls.name})`;
  for (const [name, v] of Object.entries(attrs)) {
    const info = cls.attributes[name];
    if (!info) throw new ResourceStoreError(`${where}: unknown attribute ${name}`);
    if (info.type === 'ResourceReference') {
      if (v === null) {
        if (!info.optional)
          throw new ResourceStoreError(`${where}: ResourceReference set to None but not optional`);
        continue;
      }
      if (!isRef(v) || !Number.isInteger(v.handle))
        throw new ResourceStoreError(`${where}: Cannot take ResourceReference to ${JSON.stringify(v)}`);
      if (!handleKnown(v.handle))
        throw new ResourceStoreError(
          `${where}: attribute ${name} references handle ${v.handle}, which is not in the session`,
        );
    } else if (isRef(v)) {
      throw new ResourceStoreError(`${where}: attribute ${name} (${info.type}) cannot hold a reference`);
    } else if (v !== null && !['string', 'number', 'boolean'].includes(typeof v)) {
      throw new ResourceStoreError(`${where}: attribute ${name} has an unstorable value`);
    }
  }
}

/** Checks a label a plugin sent (undefined: none sent). */
export function checkLabel(handle: number, label: unknown): void {
  if (label === undefined) return;
  if (typeof label !== 'string' || label.length === 0 || label.length > MAX_RESOURCE_LABEL_LENGTH)
    throw new ResourceStoreError(
      `resource ${handle}: label must be a string of 1 to ${MAX_RESOURCE_LABEL_LENGTH} characters`,
    );
}

/**
 * Validates `batch` (new resources of one call) against the handles the session already has and
 * returns it ordered referenced-first.
 */
export function checkAndOrderReport(
  batch: readonly ReportedResource[],
  classOf: (name: string) => ResourceClassInfo | undefined,
  sessionHas: (handle: number) => boolean,
): ReportedResource[] {
  const byHandle = new Map<number, ReportedResource>();
  for (const r of batch) {
    if (!Number.isInteger(r.handle) || r.handle < 1)
      throw new ResourceStoreError(`invalid handle ${r.handle}`);
    if (byHandle.has(r.handle)) throw new ResourceStoreError(`duplicate handle ${r.handle} in one report`);
    if (sessionHas(r.handle)) throw new ResourceStoreError(`handle ${r.handle} is already in the session`);
    byHandle.set(r.handle, r);
  }
  const known = (h: number) => byHandle.has(h) || sessionHas(h);
  for (const r of batch) {
    const cls = classOf(r.class);
    if (!cls)
      throw new ResourceStoreError(
        `resource ${r.handle}: class ${r.class} is not among the session's classes`,
      );
    checkAttributes(cls, r.handle, r.attributes, known);
    checkLabel(r.handle, r.label);
    for (const p of r.parents) {
      if (p === r.handle) throw new ResourceStoreError(`resource ${r.handle} cannot be its own parent`);
      if (!known(p))
        throw new ResourceStoreError(`resource ${r.handle}: parent handle ${p} is not in the session`);
    }
  }
  // Depth-first, references first; a reference back onto the current path is a cycle.
  const out: ReportedResource[] = [];
  const state = new Map<number, 'visiting' | 'done'>();
  const visit = (r: ReportedResource) => {
    const s = state.get(r.handle);
    if (s === 'done') return;
    if (s === 'visiting') throw new ResourceStoreError(`resource ${r.handle}: references form a cycle`);
    state.set(r.handle, 'visiting');
    for (const v of Object.values(r.attributes)) {
      if (isRef(v)) {
        const target = byHandle.get(v.handle);
        if (target) visit(target);
      }
    }
    state.set(r.handle, 'done');
    out.push(r);
  };
  // An explicit stack would avoid deep recursion; reference chains are short (drive → enclosure).
  for (const r of batch) visit(r);
  return out;
}
