// Stable XenAPI identities of resource records. A record's uuid and ref are name-based (RFC 4122
// version 5) UUIDs of its id in the pool's uuid as namespace: nothing is stored for them, they stay
// the same for the record's whole life (and across restarts), ids are never reused (the store's
// AUTOINCREMENT), and two pools never share one.
import { createHash } from 'node:crypto';

/** RFC 4122 §4.3 name-based UUID (SHA-1) of `name` in `namespace`. */
export function uuidV5(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ''), 'hex');
  if (ns.length !== 16) throw new Error(`namespace ${namespace} is not a uuid`);
  const h = createHash('sha1').update(ns).update(name, 'utf8').digest().subarray(0, 16);
  h[6] = (h[6] & 0x0f) | 0x50;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

interface Identity {
  uuid: string;
  ref: string;
}

/** Record id ↔ uuid/ref, computed on demand; a lookup that misses recomputes from the live ids once. */
export class ResourceIdentities {
  readonly #byId = new Map<number, Identity>();
  readonly #byUuid = new Map<string, number>();
  readonly #byRef = new Map<string, number>();

  constructor(
    private readonly namespace: string,
    private readonly liveIds: () => number[],
  ) {}

  #of(id: number): Identity {
    let x = this.#byId.get(id);
    if (!x) {
      x = {
        uuid: uuidV5(this.namespace, `storage_resource/${id}`),
        ref: `OpaqueRef:${uuidV5(this.namespace, `storage_resource-ref/${id}`)}`,
      };
      this.#byId.set(id, x);
      this.#byUuid.set(x.uuid, id);
      this.#byRef.set(x.ref, id);
    }
    return x;
  }

  uuidOf(id: number): string {
    return this.#of(id).uuid;
  }

  refOf(id: number): string {
    return this.#of(id).ref;
  }

  /** The live record a ref names, else undefined (a deleted record's ref names nothing). */
  idOfRef(ref: string): number | undefined {
    return this.#lookup(this.#byRef, ref);
  }

  idOfUuid(uuid: string): number | undefined {
    return this.#lookup(this.#byUuid, uuid.toLowerCase());
  }

  #lookup(map: Map<string, number>, key: string): number | undefined {
    const live = new Set(this.liveIds());
    let id = map.get(key);
    if (id === undefined) {
      for (const i of live) this.#of(i);
      id = map.get(key);
    }
    return id !== undefined && live.has(id) ? id : undefined;
  }
}
