// The xen-api npm package ships no typings; this covers what the tests use.
declare module 'xen-api' {
  import { EventEmitter } from 'node:events';
  export class Xapi extends EventEmitter {
    constructor(opts: Record<string, unknown>);
    connect(): Promise<void>;
    disconnect(): Promise<void>;
    call(method: string, ...args: unknown[]): Promise<any>;
    callAsync(method: string, ...args: unknown[]): Promise<any>;
    barrier(ref?: string): Promise<void>;
    objects: EventEmitter & { all: Record<string, any> };
    objectsFetched: Promise<void>;
    pool: any;
    getObject(idOrUuidOrRef: string, defaultValue?: unknown): any;
  }
  export function createClient(opts: Record<string, unknown>): Xapi;
}
