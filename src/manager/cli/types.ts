// The CLI's view of the toolstack (CliApi) and the shapes of the facts taken from xapi.

/** What the CLI needs from the XenAPI server; every command is built on these calls. */
export interface CliApi {
  loginWithPassword(user: string, password: string, address?: string): Promise<string>;
  /** Password-less login of the local superuser (root over the Unix socket). */
  localLogin(): Promise<string>;
  logout(session: string): Promise<void>;
  /**
   * Invokes a XenAPI method in-process as a client would (`VM.get_all_records`, `Async.VM.clone`),
   * with the arguments after the session, in internal values; failures are `XenApiError`s.
   */
  call(session: string, method: string, args: unknown[]): Promise<unknown>;
}

/** One command of xapi's command table (cli_frontend.ml). */
export interface CommandFact {
  reqd: string[];
  optn: string[];
  help: string;
  /** Standard, Hidden, Vm_selectors, Host_selectors, Sr_selectors, Neverforward, Deprecated. */
  flags: string[];
}

/** One field of a CLI record (records.ml). */
export interface FieldFact {
  name: string;
  /** The class and field the value comes from (absent: computed, not carried over). */
  cls?: string;
  field?: string;
  /** The value is a ref shown by its uuid, or by its name-label. */
  via?: 'uuid' | 'name';
  set?: boolean;
  add_to_set?: boolean;
  add_to_map?: boolean;
  get_set?: boolean;
  get_map?: boolean;
  hidden?: boolean;
  expensive?: boolean;
  deprecated?: boolean;
  case_insensitive?: boolean;
}

/** A XenAPI error's documented parameters and sentence (datamodel_errors.ml). */
export interface ErrorFact {
  params: string[];
  doc: string;
}
