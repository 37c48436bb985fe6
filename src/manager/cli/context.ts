// What a command runs with, and the command table's entry shape.
import type { Params } from './args.js';
import type { Printer } from './printer.js';
import type { RefResolver } from './records.js';
import type { CliApi } from './types.js';

/** The thin client's side of the conversation beyond printing. */
export interface ClientIo {
  print(text: string): void;
  printStderr(text: string): void;
  /** A debug message (xe prints it with --debug; Berth's xe also draws task progress from it). */
  debug(text: string): void;
  /** Asks the user for one line (Prompt); resolves with what was typed. */
  prompt(): Promise<string>;
  /** Asks the client to connect its terminal to `url` (HTTP CONNECT); false if it failed. */
  httpConnect(url: string): Promise<boolean>;
  /**
   * Asks the client to download `url` into `filename` ("" = its stdout) / upload `filename` to
   * `url` (HttpGet / HttpPut); resolves with its answer (true: the transfer completed).
   */
  httpGet(filename: string, url: string): Promise<boolean>;
  httpPut(filename: string, url: string): Promise<boolean>;
}

export interface Ctx {
  api: CliApi;
  session: string;
  cmd: string;
  params: Params;
  p: Printer;
  io: ClientIo;
  resolver: RefResolver;
}

export interface CommandSpec {
  name: string;
  reqd: string[];
  optn: string[];
  help: string;
  /** Standard, Hidden, Vm_selectors, Host_selectors, Sr_selectors. */
  flags: string[];
  run(ctx: Ctx): Promise<void>;
}
