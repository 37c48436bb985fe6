// The connection a `berth` command works through: the SDK client plus the generic calls nouns
// need (records of a class, one object by uuid or ref). Loaded lazily nowhere: keep it small,
// the CLI's start-up time is measured (bench:cli).
import type { XenApiClient } from '../sdk/client.js';

/** An object of the API as the CLI handles it: its class, reference and last-read record. */
export interface ApiObject {
  cls: string;
  ref: string;
  record: Record<string, unknown>;
}

export class Api {
  constructor(readonly client: XenApiClient) {}

  /** Any session-taking message, by wire name (`VM.start`); the session is prepended. */
  call(method: string, ...params: unknown[]): Promise<unknown> {
    const session = this.client.sessionRef;
    if (!session) return Promise.reject(new Error('not logged in'));
    return this.client.raw(method, [session, ...params]);
  }

  /** The `Async.` variant: the task ref. */
  callAsync(method: string, ...params: unknown[]): Promise<string> {
    return this.call(`Async.${method}`, ...params) as Promise<string>;
  }

  async allRecords(cls: string): Promise<ApiObject[]> {
    const all = (await this.call(`${cls}.get_all_records`)) as Record<string, Record<string, unknown>>;
    return Object.entries(all).map(([ref, record]) => ({ cls, ref, record }));
  }

  async byRef(cls: string, ref: string): Promise<ApiObject> {
    return { cls, ref, record: (await this.call(`${cls}.get_record`, ref)) as Record<string, unknown> };
  }

  async byUuid(cls: string, uuid: string): Promise<ApiObject> {
    const ref = (await this.call(`${cls}.get_by_uuid`, uuid)) as string;
    return this.byRef(cls, ref);
  }

  /** Re-reads an object's record (after an action changed it). */
  refresh(o: ApiObject): Promise<ApiObject> {
    return this.byRef(o.cls, o.ref);
  }
}
