// A manager over a recording stand-in agent (test/manager/setters/harness.ts) whose statistics
// are a RecordingStats, called over JSON-RPC as root.
import type { TestContext } from 'node:test';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { startManager, type TestManager } from '../../helpers/manager.js';
import { RecordingAgent } from '../setters/harness.js';
import { RecordingStats } from './recording-stats.js';

export interface Setup {
  m: TestManager;
  agent: RecordingAgent;
  stats: RecordingStats;
  session: string;
  call(method: string, ...args: unknown[]): Promise<any>;
  failure(method: string, ...args: unknown[]): Promise<string[]>;
}

/** A manager over a recording stand-in agent whose statistics are `stats`. */
export async function setup(t: TestContext, dataDir?: string, stats = new RecordingStats()): Promise<Setup> {
  const agent = new RecordingAgent();
  const m = await startManager(t, { agent, dataDir });
  (agent as unknown as { stats: RecordingStats }).stats = stats;
  let id = 0;
  const raw = async (method: string, params: unknown[]) => {
    const res = await fetch(`${m.httpUrl}/jsonrpc`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', method, params, id: ++id }),
    });
    const body = (await res.json()) as { result?: unknown; error?: { message: string; data: string[] } };
    if (body.error) throw { error: [body.error.message, ...body.error.data] };
    return body.result as any;
  };
  const session = await raw('session.login_with_password', ['root', m.rootPassword, '1.0', 'stats-test']);
  const call = (method: string, ...args: unknown[]) => raw(method, [session, ...args]);
  const failure = async (method: string, ...args: unknown[]) => {
    try {
      await call(method, ...args);
    } catch (e) {
      if ((e as { error?: string[] }).error) return (e as { error: string[] }).error;
      throw e;
    }
    throw new Error(`${method} succeeded; a failure was expected`);
  };
  return { m, agent, stats, session, call, failure };
}

export async function newVm(s: Setup): Promise<{ vm: string; uuid: string }> {
  const vm = (await s.call('VM.create', baseVmRecord({ name_label: 'stats-test' }))) as string;
  return { vm, uuid: String(s.m.manager.db.mustGet('VM', vm).uuid) };
}
