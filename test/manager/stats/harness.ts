// A manager over a recording stand-in agent (test/manager/setters/harness.ts) whose statistics
// are a RecordingStats, called over JSON-RPC as root.
import type { TestContext } from 'node:test';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { startManager, type TestManager } from '../../helpers/manager.js';
import { RecordingAgent, rootJsonRpc } from '../setters/harness.js';
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
  const { session, call, failure } = await rootJsonRpc(m, 'stats-test');
  return { m, agent, stats, session, call, failure };
}

export async function newVm(s: Setup): Promise<{ vm: string; uuid: string }> {
  const vm = (await s.call('VM.create', baseVmRecord({ name_label: 'stats-test' }))) as string;
  return { vm, uuid: String(s.m.manager.db.mustGet('VM', vm).uuid) };
}
