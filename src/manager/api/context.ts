// What an API operation sees: the manager's services, the caller's session and, for async or
// long calls, the task it runs under.
import type { MessageSpec } from '../../shared/datamodel/model-types.js';
import type { SessionInfo, SessionManager } from '../auth/sessions.js';
import type { UserStore } from '../auth/users.js';
import type { Database } from '../db/database.js';
import type { EventService } from '../events/event-service.js';
import type { HostRegistry } from '../hosts/registry.js';
import type { PoolService } from '../pool/service.js';
import type { TaskHandle, TaskManager } from '../tasks/task-manager.js';

export interface ConnectionInfo {
  /** Arrived over the local Unix socket (password-less superuser logins allowed). */
  local: boolean;
  remoteAddress?: string;
  headers?: Record<string, string | string[] | undefined>;
  /** Aborted when the client disconnects (ends long polls such as event.from). */
  signal?: AbortSignal;
}

/** Hooks other components (host agent, storage, networking) attach to the manager. */
export interface Extensions {
  [name: string]: unknown;
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
  ext: Extensions;
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

/** An operation: decoded parameters in declared order (the session excluded). */
export type Handler = (ctx: CallContext, ...args: any[]) => unknown;

/** Login-family messages run without a session. */
export interface SessionlessContext {
  svc: Services;
  msg: MessageSpec;
  conn: ConnectionInfo;
}
export type SessionlessHandler = (ctx: SessionlessContext, ...args: any[]) => unknown;

export interface HandlerTable {
  handlers: Record<string, Handler>;
  sessionless?: Record<string, SessionlessHandler>;
}
