// The coverage figure of docs/node-daemon-parity.md, computed from its table (issue 18): rows by
// status, checked against the seed's list of Ganeti backend functions. `--write` puts the figure
// into the document between its markers; `--check` (default) exits 1 when the document's figure
// is stale or the table is malformed. test/tools/parity-coverage.test.ts runs the checks.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The 83 public functions of Ganeti's backend module as the seed (001_…txt) lists them, in order. */
export const SEED_FUNCTIONS = [
  'JobQueuePurge',
  'GetMasterInfo',
  'RunLocalHooks',
  'ActivateMasterIp',
  'StartMasterDaemons',
  'DeactivateMasterIp',
  'StopMasterDaemons',
  'ChangeMasterNetmask',
  'EtcHostsModify',
  'LeaveCluster',
  'GetNodeInfo',
  'VerifyNode',
  'GetBlockDevSizes',
  'GetVolumeList',
  'ListVolumeGroups',
  'NodeVolumes',
  'BridgesExist',
  'GetInstanceList',
  'GetInstanceInfo',
  'GetInstanceMigratable',
  'GetAllInstancesInfo',
  'InstanceOsAdd',
  'RunRenameInstance',
  'StartInstance',
  'InstanceShutdown',
  'InstanceReboot',
  'InstanceBalloonMemory',
  'MigrationInfo',
  'AcceptInstance',
  'FinalizeMigrationDst',
  'MigrateInstance',
  'FinalizeMigrationSource',
  'GetMigrationStatus',
  'BlockdevCreate',
  'BlockdevWipe',
  'BlockdevPauseResumeSync',
  'BlockdevRemove',
  'BlockdevAssemble',
  'BlockdevShutdown',
  'BlockdevAddchildren',
  'BlockdevRemovechildren',
  'BlockdevGetmirrorstatus',
  'BlockdevGetmirrorstatusMulti',
  'BlockdevFind',
  'BlockdevGetsize',
  'BlockdevExport',
  'UploadFile',
  'RunOob',
  'DiagnoseOS',
  'OSFromDisk',
  'OSCoreEnv',
  'OSEnvironment',
  'DiagnoseExtStorage',
  'BlockdevGrow',
  'BlockdevSnapshot',
  'BlockdevSetInfo',
  'FinalizeExport',
  'ExportInfo',
  'ListExports',
  'RemoveExport',
  'BlockdevRename',
  'CreateFileStorageDir',
  'RemoveFileStorageDir',
  'RenameFileStorageDir',
  'JobQueueUpdate',
  'JobQueueRename',
  'BlockdevClose',
  'ValidateHVParams',
  'ValidateOS',
  'DemoteFromMC',
  'CreateX509Certificate',
  'RemoveX509Certificate',
  'StartImportExportDaemon',
  'GetImportExportStatus',
  'AbortImportExport',
  'CleanupImportExport',
  'DrbdDisconnectNet',
  'DrbdAttachNet',
  'DrbdWaitSync',
  'GetDrbdUsermodeHelper',
  'PowercycleNode',
  'RunRestrictedCmd',
  'SetWatcherPause',
] as const;

export type ParityStatus = 'covered' | 'in progress' | 'left out';

export interface ParityRow {
  n: number;
  fn: string;
  status: ParityStatus;
  procedure: string;
  reach: string;
  test: string;
}

const STATUSES: readonly string[] = ['covered', 'in progress', 'left out'];

/** The table's rows (`| n | Function | status | procedure | reach | test |`); malformed rows throw. */
export function parseParityTable(md: string): ParityRow[] {
  const rows: ParityRow[] = [];
  for (const line of md.split('\n')) {
    if (!/^\| \d+ \|/.test(line)) continue;
    const cells = line.split(' | ').map((c) => c.replace(/^\| ?| ?\|$/g, '').trim());
    if (cells.length !== 6) throw new Error(`parity row needs 6 cells: ${line}`);
    const [n, fn, status, procedure, reach, test] = cells;
    if (!STATUSES.includes(status)) throw new Error(`unknown status '${status}' in: ${line}`);
    rows.push({ n: Number(n), fn, status: status as ParityStatus, procedure, reach, test });
  }
  return rows;
}

export interface Coverage {
  total: number;
  covered: number;
  inProgress: number;
  leftOut: number;
}

export function coverage(rows: readonly ParityRow[]): Coverage {
  const count = (s: ParityStatus) => rows.filter((r) => r.status === s).length;
  return {
    total: rows.length,
    covered: count('covered'),
    inProgress: count('in progress'),
    leftOut: count('left out'),
  };
}

const pct = (a: number, b: number) => `${((100 * a) / b).toFixed(1)}%`;

/** The sentence the document carries between its markers. */
export function coverageLine(c: Coverage): string {
  const withProgress = c.covered + c.inProgress;
  const applicable = c.total - c.leftOut;
  return (
    `Coverage: ${c.covered} of ${c.total} covered (${pct(c.covered, c.total)}); ` +
    `with the ${c.inProgress} rows in progress, ${withProgress} (${pct(withProgress, c.total)}); ` +
    `left out: ${c.leftOut} (covered of the ${applicable} applicable: ${pct(c.covered, applicable)}).`
  );
}

const MARK = /<!-- parity-coverage -->\n([^\n]*)\n<!-- \/parity-coverage -->/;

/** Every problem of the document: wrong rows, missing tests or procedures, a stale figure. */
export function problems(md: string, root: string, sources: string): string[] {
  const out: string[] = [];
  const rows = parseParityTable(md);
  const names = rows.map((r) => r.fn);
  if (names.join(',') !== SEED_FUNCTIONS.join(','))
    out.push(`the table's functions differ from the seed's 83 (in its order): ${names.length} rows`);
  rows.forEach((r, i) => {
    if (r.n !== i + 1) out.push(`row ${r.fn}: number ${r.n}, expected ${i + 1}`);
    if (r.status === 'covered') {
      if (!/^test\/\S+\.test\.ts$/.test(r.test) || !existsSync(join(root, r.test)))
        out.push(`row ${r.fn}: test file '${r.test}' does not exist`);
      for (const [, proc] of r.procedure.matchAll(/`([a-z][a-z0-9_]+)`/g))
        if (!new RegExp(`['"\`]${proc}['"\`]|\\b${proc}:`).test(sources))
          out.push(`row ${r.fn}: procedure ${proc} not found in src/`);
    }
    if (r.status === 'left out' && !/\(.{10,}\)/.test(r.test))
      out.push(`row ${r.fn}: left out without a reason`);
    if (r.status === 'in progress' && !/issue 18, slice [a-z-]+/.test(r.procedure))
      out.push(`row ${r.fn}: in progress without its slice`);
  });
  const m = MARK.exec(md);
  const want = coverageLine(coverage(rows));
  if (!m) out.push('the coverage markers are missing');
  else if (m[1] !== want) out.push(`stale figure: '${m[1]}', computed '${want}'`);
  return out;
}

/** Text of every .ts file under src/agent and src/shared/host (where procedures are named). */
export function procedureSources(root: string): string {
  const texts: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) texts.push(readFileSync(p, 'utf8'));
    }
  };
  for (const d of ['src/agent', 'src/shared/host', 'src/shared/noded']) walk(join(root, d));
  return texts.join('\n');
}

function main() {
  const root = join(fileURLToPath(import.meta.url), '..', '..');
  const file = join(root, 'docs', 'node-daemon-parity.md');
  let md = readFileSync(file, 'utf8');
  if (process.argv.includes('--write')) {
    md = md.replace(
      MARK,
      `<!-- parity-coverage -->\n${coverageLine(coverage(parseParityTable(md)))}\n<!-- /parity-coverage -->`,
    );
    writeFileSync(file, md);
  }
  const found = problems(md, root, procedureSources(root));
  process.stdout.write(`${coverageLine(coverage(parseParityTable(md)))}\n`);
  for (const p of found) process.stderr.write(`parity: ${p}\n`);
  process.exitCode = found.length ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
