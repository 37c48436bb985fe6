// What an agent device plugin is (IML's DevicePlugin, reference §13): one instance per session;
// start_session returns the full listing, update_session what changed (null: nothing to send).
// The session machinery (session.ts) calls them at most every poll period and queues the results.

export interface DevicePluginInstance {
  /** The full listing: DATA seq 0 of the session. */
  startSession(): Promise<unknown>;
  /** What changed since the last call; null: nothing to send this cycle. */
  updateSession(): Promise<unknown>;
  /** Frees what the instance holds; called once its session ends. */
  teardown?(): void | Promise<void>;
}

export interface DevicePlugin {
  /** Equal to the manager-side plugin's name (`linux`). */
  readonly name: string;
  /** A fresh instance for a new session. */
  createInstance(): DevicePluginInstance;
}
