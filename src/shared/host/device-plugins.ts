// The agent device plugins' part of the host contract (issue 17), after IML's agent device plugins
// and their session protocol (reference: ../shared/reference/iml-storage-plugins.md §13). Each
// agent runs its device plugins (the built-in `linux` one gathers lsblk, LVM, md, ZFS, SMART,
// mounts and network interfaces) at most every 10 s and queues what they report as the original's
// wire messages; the pool master drains every agent's queue through this contract and feeds each
// (host, plugin) session into its resource store.
//
// IML's agent POSTs its messages; Berth's manager calls its agents (never the reverse), so the
// master takes them instead, and answers a session request with a call back. The messages and
// their rules are the original's:
//
//   agent: SESSION_CREATE_REQUEST {plugin}                 (back-off 10 s doubling to 60 s)
//   master: device_plugin_session_create(plugin, id)        → agent: start_session() → DATA seq 0
//   agent: DATA {session_id, session_seq: 1, 2, …}          (update_session(); null body = nothing new)
//   master, on an unknown session or a seq gap: device_plugin_session_terminate(plugin, id)
//   agent, on a plugin exception: SESSION_TERMINATE, then a new SESSION_CREATE_REQUEST
//
// Messages taken are gone from the agent: a take lost in transit shows up as a seq gap at the
// next take, and the master resets that session (the original's "failed POST kills the sessions
// whose DATA was dropped").

export type DevicePluginMessageType = 'SESSION_CREATE_REQUEST' | 'SESSION_TERMINATE' | 'DATA';

/** One queued message, as the original's wire message (`fqdn` is implied by the agent asked). */
export interface DevicePluginMessage {
  type: DevicePluginMessageType;
  /** The device plugin's name, equal to the manager-side plugin's (`linux`). */
  plugin: string;
  /** null in a SESSION_CREATE_REQUEST. */
  session_id: string | null;
  /** DATA: 0 for start_session's full listing, then +1 per message; null otherwise. */
  session_seq: number | null;
  /** DATA: the plugin's JSON-serialisable report; for `linux`, a LinuxHostReport. */
  body: unknown;
}

/** A device plugin's state on its agent, for diagnostics (`xe storage-resource-plugin-list`). */
export interface DevicePluginState {
  name: string;
  /** null: no session (waiting for the master's answer or backing off). */
  session_id: string | null;
  /** Sequence number of the last DATA queued in this session. */
  session_seq: number | null;
  /** The last exception of start_session/update_session, if the last poll failed. */
  last_error: string | null;
}

export interface DevicePluginProcedures {
  /**
   * Every message queued since the last take, oldest first, removed from the agent's queue. The
   * queue is bounded (8 MiB of bodies, as the original's batches): on overflow the agent drops the
   * oldest DATA and its session's next DATA reveals the gap.
   */
  device_plugin_take(): Promise<DevicePluginMessage[]>;
  /**
   * The master's answer to a SESSION_CREATE_REQUEST: the agent's next poll of `plugin` runs
   * start_session and queues its listing as DATA seq 0 of session `sessionId`. A plugin this agent
   * does not run is refused with INVALID_VALUE ['plugin', name].
   */
  device_plugin_session_create(plugin: string, sessionId: string): Promise<void>;
  /**
   * The master ends a session (unknown to it, a seq gap, an update it could not apply): the agent
   * drops it if it is still `sessionId` (null: whatever session the plugin has) and requests a new
   * one. Idempotent.
   */
  device_plugin_session_terminate(plugin: string, sessionId: string | null): Promise<void>;
  /** The device plugins this agent runs and their sessions. */
  device_plugin_list(): Promise<DevicePluginState[]>;
  /**
   * One plugin's start_session output now, outside any session (the original's `chroma-agent
   * device-plugin --plugin=<name>`), for diagnostics; INVALID_VALUE ['plugin', name] if unknown.
   */
  device_plugin_run(plugin: string): Promise<unknown>;
}

export type DevicePluginProcedureName = keyof DevicePluginProcedures;

export const DEVICE_PLUGIN_PROCEDURES = [
  'device_plugin_take',
  'device_plugin_session_create',
  'device_plugin_session_terminate',
  'device_plugin_list',
  'device_plugin_run',
] as const satisfies readonly DevicePluginProcedureName[];

type Unlisted = Exclude<DevicePluginProcedureName, (typeof DEVICE_PLUGIN_PROCEDURES)[number]>;
const allListed: [Unlisted] extends [never] ? true : Unlisted = true;
void allListed;

/** The device plugin procedures over an agent RPC `call` (the manager's client of a host's agent). */
export function devicePluginClient(
  call: (procedure: string, args: unknown[]) => Promise<unknown>,
): DevicePluginProcedures {
  const out: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
  for (const name of DEVICE_PLUGIN_PROCEDURES) out[name] = (...args: unknown[]) => call(name, args);
  return out as unknown as DevicePluginProcedures;
}
