// A real manager (temp data dir, real SQLite, real listeners) with storage opened on it, and a
// local superuser session for in-process calls.
import type { TestContext } from 'node:test';
import type { SessionInfo } from '../../../src/manager/auth/sessions.js';
import type { StorageOptions as AgentStorageOptions } from '../../../src/agent/storage/rpc.js';
import type { StartupReport, StorageOptions } from '../../../src/manager/storage/startup.js';
import { volumePath } from '../../../src/shared/host/volume-path.js';
import { startManager, type TestManager } from '../../helpers/manager.js';

export interface StorageManager extends TestManager {
  session: SessionInfo;
  report: StartupReport;
  call<T = any>(wire: string, ...args: unknown[]): Promise<T>;
}

export async function startStorageManager(
  t: TestContext,
  opts: { dataDir?: string; storage?: Partial<StorageOptions>; agentStorage?: AgentStorageOptions } = {},
): Promise<StorageManager> {
  const m = await startManager(t, {
    dataDir: opts.dataDir,
    storage: opts.storage,
    agentStorage: opts.agentStorage,
  });
  const svc = m.manager.svc;
  const report = m.manager.storageReport!;
  const session = svc.sessions.validate(svc.sessions.localLogin('storage-test'));
  return { ...m, session, report, call: (wire, ...args) => svc.call(session, wire, args) as Promise<any> };
}

export const code = (c: string, params?: string[]) => (e: any) => {
  if (e?.code !== c)
    throw new Error(`expected ${c}, got ${e?.code} ${JSON.stringify(e?.params)} ${e?.message}`);
  if (params && JSON.stringify(e.params) !== JSON.stringify(params))
    throw new Error(`expected ${c} ${JSON.stringify(params)}, got ${JSON.stringify(e.params)}`);
  return true;
};

/** The image file of a VDI, as the agent lays it out. */
export async function imageOf(m: StorageManager, vdi: string): Promise<string> {
  const rec = await m.call<any>('VDI.get_record', vdi);
  const sr = await m.call<any>('SR.get_record', rec.SR);
  const pbd = await m.call<any>('PBD.get_record', sr.PBDs[0]);
  return volumePath(sr.type, sr.uuid, pbd.device_config, rec.location)!.path;
}

/** The 64 KiB CBT blocks a list of [offset, length] writes touches, from the offsets alone. */
export function blocksOf(writes: [number, number][]): number[] {
  const s = new Set<number>();
  for (const [off, len] of writes)
    for (let b = Math.floor(off / 65536); b <= Math.floor((off + len - 1) / 65536); b++) s.add(b);
  return [...s].sort((a, b) => a - b);
}
