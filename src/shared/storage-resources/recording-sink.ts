// A ResourceSessionSink that records every call in order, for tests of plugins and of the
// framework (and for `berth-storage-plugin` dry runs): no database, nothing interpreted. Every
// argument is kept as given (a reported resource's `label`, sessionUpdateResource's fifth).
import type { ResourceSessionSink } from './session.js';

/** One call of the sink's required methods (the optional `sessionUpdateDone` is not recorded). */
type RequiredSink = Omit<ResourceSessionSink, 'sessionUpdateDone'>;
export type SinkCall = {
  [K in keyof RequiredSink]: [K, ...Parameters<RequiredSink[K]>];
}[keyof RequiredSink];

export class RecordingSink implements ResourceSessionSink {
  readonly calls: SinkCall[] = [];

  /** The calls' names in order. */
  names(): string[] {
    return this.calls.map((c) => c[0]);
  }

  /** Forgets what was recorded (between phases of a test). */
  clear(): void {
    this.calls.length = 0;
  }

  #record(call: SinkCall): Promise<void> {
    this.calls.push(structuredClone(call));
    return Promise.resolve();
  }

  sessionOpen(...a: Parameters<ResourceSessionSink['sessionOpen']>) {
    return this.#record(['sessionOpen', ...a]);
  }
  sessionAddResources(...a: Parameters<ResourceSessionSink['sessionAddResources']>) {
    return this.#record(['sessionAddResources', ...a]);
  }
  sessionUpdateResource(...a: Parameters<ResourceSessionSink['sessionUpdateResource']>) {
    return this.#record(['sessionUpdateResource', ...a]);
  }
  sessionResourceAddParent(...a: Parameters<ResourceSessionSink['sessionResourceAddParent']>) {
    return this.#record(['sessionResourceAddParent', ...a]);
  }
  sessionResourceRemoveParent(...a: Parameters<ResourceSessionSink['sessionResourceRemoveParent']>) {
    return this.#record(['sessionResourceRemoveParent', ...a]);
  }
  sessionRemoveLocalResources(...a: Parameters<ResourceSessionSink['sessionRemoveLocalResources']>) {
    return this.#record(['sessionRemoveLocalResources', ...a]);
  }
  sessionRemoveGlobalResources(...a: Parameters<ResourceSessionSink['sessionRemoveGlobalResources']>) {
    return this.#record(['sessionRemoveGlobalResources', ...a]);
  }
  sessionNotifyAlert(...a: Parameters<ResourceSessionSink['sessionNotifyAlert']>) {
    return this.#record(['sessionNotifyAlert', ...a]);
  }
  sessionOffline(...a: Parameters<ResourceSessionSink['sessionOffline']>) {
    return this.#record(['sessionOffline', ...a]);
  }
  sessionClose(...a: Parameters<ResourceSessionSink['sessionClose']>) {
    return this.#record(['sessionClose', ...a]);
  }
}
