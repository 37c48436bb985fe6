// A manager started in-process and called over JSON-RPC (the real dispatcher: decoding, RBAC,
// handlers), with a recording stand-in for the host agent so running-VM setters (balloon,
// vCPU hot-plug) can be observed without QEMU.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { TestContext } from 'node:test';
import { checkSpec } from '../../../src/agent/qemu/spec-check.js';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import type { InstanceInfo, InstanceSpec } from '../../../src/manager/vm/host-agent.js';
import { networkClient } from '../../../src/shared/host/network.js';
import { jsonRpcCaller } from '../../helpers/json-rpc.js';
import { startManager, type TestManager } from '../../helpers/manager.js';
import type { InstanceAgent } from '../../helpers/test-agent.js';

export const MiB = 1024 * 1024;

/** Records what the manager asked of it; starts "VMs" instantly. */
export class RecordingAgent implements InstanceAgent {
  readonly connected = true;
  readonly calls: [string, ...unknown[]][] = [];
  started: InstanceSpec[] = [];
  /** No host networking here (these tests run with networking off). */
  readonly network = networkClient(async (p) => {
    throw new Error(`${p}: the recording agent has no networking`);
  });
  constructor(hotplug = false) {
    if (hotplug)
      (this as unknown as { setVcpus: unknown }).setVcpus = async (uuid: string, n: number) => {
        this.calls.push(['setVcpus', uuid, n]);
      };
  }
  async version() {
    return 'recording';
  }
  async start(spec: InstanceSpec): Promise<InstanceInfo> {
    checkSpec(spec); // what the real agent refuses, this one refuses too
    this.started.push(spec);
    this.calls.push(['start', spec.uuid]);
    return {
      uuid: spec.uuid,
      state: spec.startPaused ? 'paused' : 'running',
      vcpus: spec.vcpus,
    } as InstanceInfo;
  }
  async shutdown(uuid: string) {
    this.calls.push(['shutdown', uuid]);
  }
  async reboot(uuid: string) {
    this.calls.push(['reboot', uuid]);
  }
  async pause(uuid: string) {
    this.calls.push(['pause', uuid]);
  }
  async unpause(uuid: string) {
    this.calls.push(['unpause', uuid]);
  }
  async suspend(uuid: string, path: string) {
    this.calls.push(['suspend', uuid]);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, 'suspend image');
  }
  async resume(spec: InstanceSpec): Promise<InstanceInfo> {
    checkSpec(spec);
    this.calls.push(['resume', spec.uuid]);
    return { uuid: spec.uuid, state: 'running' } as InstanceInfo;
  }
  async balloon(uuid: string, bytes: number) {
    this.calls.push(['balloon', uuid, bytes]);
  }
  async info(uuid: string): Promise<InstanceInfo> {
    return { uuid, state: 'running' } as InstanceInfo;
  }
  async all(): Promise<InstanceInfo[]> {
    return [];
  }
  async callPlugin(): Promise<string> {
    return '';
  }
  onEvent() {}
  onReconnect() {}
  close() {}
}

/** A XenAPI failure as the client sees it. */
export interface Failure {
  error: string[];
}

export interface Harness {
  m: TestManager;
  agent: RecordingAgent;
  /** Calls a message over JSON-RPC as root; resolves to the result, rejects with {error}. */
  call(method: string, ...args: unknown[]): Promise<any>;
  /** The error description a call fails with (fails the test if it succeeds). */
  failure(method: string, ...args: unknown[]): Promise<string[]>;
  newVm(overrides?: Record<string, unknown>): Promise<string>;
  record(cls: string, ref: string): Record<string, any>;
}

export async function harness(t: TestContext, opts: { hotplug?: boolean } = {}): Promise<Harness> {
  const agent = new RecordingAgent(opts.hotplug);
  const m = await startManager(t, { agent });
  const { call, failure } = await rootJsonRpc(m, 'setters-test');
  return {
    m,
    agent,
    call,
    failure,
    newVm: (overrides = {}) =>
      call('VM.create', baseVmRecord({ name_label: 'setters-test', ...overrides })) as Promise<string>,
    record: (cls, ref) => m.manager.db.mustGet(cls, ref) as Record<string, any>,
  };
}

/** A root session on `m` (originator `originator`) and its JSON-RPC callers. */
export async function rootJsonRpc(m: TestManager, originator: string) {
  const post = jsonRpcCaller(m.httpUrl);
  const raw = async (method: string, params: unknown[]) => {
    const body = await post(method, params);
    if (body.error) throw { error: [body.error.message, ...(body.error.data as string[])] } satisfies Failure;
    return body.result as any;
  };
  const session: string = await raw('session.login_with_password', [
    'root',
    m.rootPassword,
    '1.0',
    originator,
  ]);
  /** Calls a message over JSON-RPC as root; resolves to the result, rejects with {error}. */
  const call = (method: string, ...args: unknown[]) => raw(method, [session, ...args]);
  /** The error description a call fails with (fails the test if it succeeds). */
  const failure = async (method: string, ...args: unknown[]): Promise<string[]> => {
    try {
      await call(method, ...args);
    } catch (e) {
      if ((e as Failure).error) return (e as Failure).error;
      throw e;
    }
    throw new Error(`${method} succeeded; a failure was expected`);
  };
  return { session, call, failure };
}
