// What an API operation sees: the manager's services, the caller's session and, for async or
// long calls, the task it runs under.
import type { Methods, ServerParams } from '../../shared/datamodel/generated/api-types.js';
import type { MessageSpec } from '../../shared/datamodel/model-types.js';
import type { SessionInfo, SessionManager } from '../auth/sessions.js';
import type { UserStore } from '../auth/users.js';
import type { Database } from '../db/database.js';
import type { EventService } from '../events/event-service.js';
import type { DriverInfo } from '../../shared/host/storage.js';
import type { HostRegistry } from '../hosts/registry.js';
import type { StorageIntents } from '../storage/intents.js';
import type { VmCopyJournal } from '../vm/copy-journal.js';
import type { MigrationJournal } from '../vm/migration-recovery.js';
import type { PoolService } from '../pool/service.js';
import type { BerthObjectLinks } from '../storage-resources/links/types.js';
import type { StorageRuntime } from '../storage-resources/runtime/storage-runtime.js';
import type { TaskHandle, TaskManager } from '../tasks/task-manager.js';

export interface ConnectionInfo {
  /** Arrived over the local Unix socket (password-less superuser logins allowed). */
  local: boolean;
  remoteAddress?: string;
  headers?: Record<string, string | string[] | undefined>;
  /** Aborted when the client disconnects (ends long polls such as event.from). */
  signal?: AbortSignal;
  /** Set by the RPC front ends: what a login may add to its HTTP reply (SPNEGO's 401). */
  reply?: HttpReply;
}

/** HTTP status and headers a sessionless handler asks its reply to carry (Kerberos login). */
export interface HttpReply {
  status?: number;
  headers: Record<string, string>;
}

/** Stored RRDs of stopped VMs and detached SRs, on the pool master (xapi keeps them in its blobs). */
export interface RrdArchive {
  /** The archived dump, null when none. */
  read(owner: 'vm' | 'sr', uuid: string): Promise<string | null>;
  /** Stores a dump (atomically: a crash leaves the old one or the new one). */
  write(owner: 'vm' | 'sr', uuid: string, dump: string): Promise<void>;
  /** Forgets a dump (VM or SR destroyed); idempotent. */
  remove(owner: 'vm' | 'sr', uuid: string): Promise<void>;
}

export interface Services {
  db: Database;
  events: EventService;
  sessions: SessionManager;
  tasks: TaskManager;
  users: UserStore;
  /** This host's and the pool's refs (single-host manager for now). */
  hostRef(): string;
  poolRef(): string;
  /** The agents of the pool's hosts: all host work goes through these. */
  hosts: HostRegistry;
  /** Pool membership: role, join, replica (absent in unit tests that build Services by hand). */
  pool?: PoolService;
  /** Calls another API message in-process, with the given session's rights. */
  call(session: SessionInfo, wire: string, args: unknown[]): Promise<unknown>;
  /** Host networking is on: bridges, TAPs and PIFs are made by the hosts' agents (off in some tests). */
  networking: boolean;
  /** Every API message name (host.list_methods). */
  listMethods: string[];
  /** The manager's data directory, and where suspend images pass on their way into/out of VDIs. */
  dataDir: string;
  suspendDir: string;
  /** SR drivers the local host's agent reported (undefined until storage started: no storage). */
  storageDrivers?: DriverInfo[];
  /** The manager's journal of volume creates/deletes in flight (crash safety). */
  storageIntents?: StorageIntents;
  /** VM.provision's storage part (creates the disks a template's other_config describes). */
  provisionDisks?: (ctx: CallContext, vm: string) => Promise<void>;
  /** Intents of VM clones/copies/snapshots in flight (crash safety). */
  vmCopyJournal?: VmCopyJournal;
  /** Live migrations in flight (vm/migration-recovery.ts: settled after a failure or restart). */
  migrationJournal?: MigrationJournal;
  /**
   * The pool master's archive of RRDs whose VM is stopped or SR detached (stats/archive.ts), as
   * the agents' internal XML dumps (absent: statistics are not kept, as in unit tests).
   */
  rrdArchive?: RrdArchive;
  /** The pool master's storage plugins, resource store and scan daemon (absent: off, failed, a slave). */
  storageResources?: StorageRuntime;
  /** How resource records link to SRs, VDIs, VBDs and VMs (absent: the resource graph only). */
  storageObjectLinks?: BerthObjectLinks;
  /** The NBD export server (VDI.get_nbd_info): its port and each host's certificate (absent: none). */
  nbd?: { port: number; certificateOf(host: string): string | undefined };
}

export interface CallContext {
  svc: Services;
  session: SessionInfo;
  msg: MessageSpec;
  conn: ConnectionInfo;
  /** Set when the call runs under a task (Async.*, or an async-capable message called sync). */
  task?: TaskHandle;
  /** Aborted when the task is cancelled or the client goes away (long polls). */
  signal?: AbortSignal;
}

/** Login-family messages run without a session. */
export interface SessionlessContext {
  svc: Services;
  msg: MessageSpec;
  conn: ConnectionInfo;
}

/** Every message a client can call (removed ones excluded). */
export type MessageName = keyof ServerParams;
/** Messages called with a session, and the login family called without. */
export type SessionMessage = {
  [K in MessageName]: Methods[K]['session'] extends true ? K : never;
}[MessageName];
export type SessionlessMessage = Exclude<MessageName, SessionMessage>;

/**
 * What a handler of `K` returns: the declared result's shape, loosened to what the database hands
 * out (refs and enums as strings, records and maps as objects: the front end encodes them by the
 * declared type); a void message's handler may return anything (ignored).
 */
export type HandlerResult<K extends MessageName> = Loose<Methods[K]['result']>;
type Loose<T> = T extends string | number | boolean | object ? LooseValue<T> : unknown;
type LooseValue<T> = T extends string
  ? string
  : T extends readonly (infer E)[]
    ? LooseValue<E>[]
    : T extends object
      ? object
      : T;

type Returns<K extends MessageName> = HandlerResult<K> | Promise<HandlerResult<K>>;

/** The operation of message `K`: its decoded parameters in declared order (the session excluded). */
export type HandlerOf<K extends SessionMessage> = (ctx: CallContext, ...args: ServerParams[K]) => Returns<K>;
export type SessionlessHandlerOf<K extends SessionlessMessage> = (
  ctx: SessionlessContext,
  ...args: ServerParams[K]
) => Returns<K>;

export type Handlers = { [K in SessionMessage]?: HandlerOf<K> };
export type SessionlessHandlers = { [K in SessionlessMessage]?: SessionlessHandlerOf<K> };

/**
 * A handler of some message, as the dispatcher holds it. Only the dispatcher calls it, with the
 * arguments decoded by that message's declared types (what `HandlerOf` promises a handler).
 */
export type Handler = (ctx: CallContext, ...args: never[]) => unknown;
export type SessionlessHandler = (ctx: SessionlessContext, ...args: never[]) => unknown;

export interface HandlerTable {
  handlers: Handlers;
  sessionless?: SessionlessHandlers;
  /** Handlers built at start from message specs (generic accessors): typed per kind, not per message. */
  fromSpecs?: Record<string, Handler>;
}
