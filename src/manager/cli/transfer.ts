// Commands that move a file between the xe client and a data-plane HTTP handler (vm-export,
// vm-import, vdi-export, vdi-import): as xapi's track_http_operation / download_file do, a task
// is created, the client is told to GET or PUT `<path>?session_id=…&task_id=…&<query>` with its
// local file, the task's progress is relayed while the bytes move (Berth's xe draws it on a
// terminal), and the command ends with the task's outcome: its result, or its error.
import { XenApiError } from '../../shared/errors.js';
import type { Ctx } from './context.js';
import { taskResultValue } from './tasks.js';

const POLL_MS = 200;
/** How long a failed client leaves the handler to settle the task (xapi waits 1 s). */
const HANDLER_GRACE_MS = 1000;

export interface TransferRequest {
  direction: 'get' | 'put';
  /** The client's local file ("" for a download: its stdout). */
  filename: string;
  /** The handler's path, e.g. `/export_raw_vdi`. */
  path: string;
  /** More query parameters (`vdi`, `format` ...). */
  query?: Record<string, string>;
  /** The task's label (xapi: "VDI export"). */
  label: string;
  /** A task of the caller's (`task-uuid=`): used and not destroyed. */
  task?: string;
}

export interface TransferOutcome {
  /** The task result's value (a ref for imports, "" when none). */
  result: string;
  /** The raw XML-RPC fragment of the task result. */
  resultXml: string;
}

/** The URL the client is sent to: the handler's path with session, task and query. */
export function transferUrl(path: string, session: string, task: string, query: Record<string, string> = {}) {
  const q = new URLSearchParams({ session_id: session, task_id: task, ...query });
  return `${path}?${q.toString()}`;
}

type TaskRow = Record<string, unknown>;

export async function transferFile(ctx: Ctx, r: TransferRequest): Promise<TransferOutcome> {
  const call = (m: string, ...args: unknown[]) => ctx.api.call(ctx.session, m, args);
  const task = r.task ?? String(await call('task.create', r.label, ''));
  const record = async () => (await call('task.get_record', task)) as TaskRow;
  let last = -1;
  const report = (t: TaskRow) => {
    const p = Number(t.progress ?? 0);
    if (p !== last) ctx.io.debug(`task-progress ${t.uuid} ${p.toFixed(3)}`);
    last = p;
  };
  const settled = (t: TaskRow) => t.status !== 'pending' && t.status !== 'cancelling';
  let polling = true;
  const poller = (async () => {
    while (polling) {
      const t = await record().catch(() => undefined);
      if (!t || settled(t)) return;
      report(t);
      await new Promise((res) => setTimeout(res, POLL_MS));
    }
  })();
  try {
    const url = transferUrl(r.path, ctx.session, task, r.query);
    const ok =
      r.direction === 'get' ? await ctx.io.httpGet(r.filename, url) : await ctx.io.httpPut(r.filename, url);
    let t = await record();
    if (!ok && !settled(t)) {
      // The client failed: unless a handler took the task (it settles it), fail it here.
      await new Promise((res) => setTimeout(res, HANDLER_GRACE_MS));
      t = await record();
      const taken = ((t.allowed_operations as string[]) ?? []).includes('cancel');
      if (!settled(t) && !taken) {
        await call('task.set_error_info', task, ['CLIENT_ERROR']);
        await call('task.set_status', task, 'failure');
        throw new XenApiError('CLIENT_ERROR', []);
      }
    }
    while (!settled(t)) {
      await new Promise((res) => setTimeout(res, POLL_MS));
      t = await record();
    }
    polling = false;
    await poller;
    report(t);
    ctx.io.debug(`task-done ${t.uuid}`);
    if (t.status === 'success') {
      const resultXml = String(t.result ?? '');
      return { result: taskResultValue(resultXml), resultXml };
    }
    if (t.status === 'cancelled') throw new XenApiError('TASK_CANCELLED', [task]);
    const info = (t.error_info as string[]) ?? [];
    if (info.length === 0) throw new XenApiError('INTERNAL_ERROR', [`${r.label} failed, unknown error`]);
    throw new XenApiError(info[0], info.slice(1));
  } finally {
    polling = false;
    await poller;
    if (r.task === undefined) await call('task.destroy', task).catch(() => undefined);
  }
}
