// xe vm-import (xapi's Cli_operations.vm_import): the client uploads its file to /import (or
// /import_metadata with metadata=true) under a task, through the thin CLI protocol's HttpPut
// (transfer.ts), and the command prints the new VMs' uuids, comma-separated. preserve=true is
// restore, force=true ignores checksum failures, sr-uuid picks the SR (else the pool's default),
// dry-run (metadata only) and vdi:<src>=<dst> remapping go to /import_metadata. Imports from a
// URL (url=, VM.import) and from VMware (type=ESXServer) are not supported by Berth.
import { boolParam, getParam, mapParams } from '../args.js';
import type { CommandSpec, Ctx } from '../context.js';
import { CliError } from '../errors.js';
import { transferFile } from '../transfer.js';
import { command, refOf, uuidOf } from './common.js';

/** The SR: sr-uuid, else the pool's default (xapi's Cli_failure when it is null). */
async function importSr(ctx: Ctx): Promise<string> {
  const uuid = getParam(ctx.params, 'sr-uuid');
  if (uuid !== undefined) return refOf(ctx, 'SR', uuid);
  const call = (m: string, ...a: unknown[]) => ctx.api.call(ctx.session, m, a);
  const pool = ((await call('pool.get_all')) as string[])[0];
  const sr = String(await call('pool.get_default_SR', pool));
  if (sr === 'OpaqueRef:NULL' || !(await call('SR.get_uuid', sr).catch(() => undefined)))
    throw new CliError('No SR specified and Pool default SR is null');
  return sr;
}

async function vmImport(ctx: Ctx) {
  const p = ctx.params;
  if (getParam(p, 'url') !== undefined && getParam(p, 'filename') !== undefined)
    throw new CliError(
      "Invalid arguments. The 'url' and 'filename' parameters should not both be specified.",
      'plain',
    );
  const type = getParam(p, 'type') ?? 'default';
  if (!['default', 'xenserver'].includes(type.toLowerCase()))
    throw new CliError(`Importing from ${type} is not supported by Berth: import an XVA file instead.`);
  if (getParam(p, 'url') !== undefined)
    throw new CliError('Importing from a URL (VM.import) is not supported by Berth: use filename=.');
  const sr = await importSr(ctx);
  const restore = boolParam(p, 'preserve');
  const metadata = boolParam(p, 'metadata');
  const force = boolParam(p, 'force');
  const dryRun = boolParam(p, 'dry-run');
  let filename = getParam(p, 'filename');
  if (filename === undefined) throw CliError.missing('filename');
  if (!metadata && dryRun) throw new CliError('Only metadata import function support dry-run', 'plain');
  // xapi: filename=<dir>/ova.xml names the directory (the legacy format, refused by the server).
  if (filename.toLowerCase().endsWith('ova.xml')) filename = filename.slice(0, -'ova.xml'.length);
  const query: Record<string, string> = {
    restore: String(restore),
    force: String(force),
    dry_run: String(dryRun),
    sr_id: sr,
  };
  for (const [k, v] of mapParams(p, 'vdi')) query[`vdi:${k}`] = v;
  const taskUuid = getParam(p, 'task-uuid');
  const out = await transferFile(ctx, {
    direction: 'put',
    filename,
    path: metadata ? '/import_metadata' : '/import',
    query,
    label: 'VM import',
    task: taskUuid === undefined ? undefined : await refOf(ctx, 'task', taskUuid),
  });
  const refs = [...out.resultXml.matchAll(/<value>(OpaqueRef:[^<]*)<\/value>/g)].map((m) => m[1]);
  let uuids = await Promise.all([...new Set(refs)].map((r) => uuidOf(ctx, 'VM', r)));
  if (uuids.length === 0 && dryRun) uuids = ['xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx'];
  ctx.io.print(uuids.join(','));
}

export const IMPORT_COMMANDS: CommandSpec[] = [command('vm-import', vmImport)];
