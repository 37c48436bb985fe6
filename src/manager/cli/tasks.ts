// Runs long operations as `Async.` calls and follows their task: progress is reported to the
// client as debug messages (`task-progress <uuid> <fraction>`), the result returned as the value.
import { XenApiError } from '../../shared/errors.js';
import type { Ctx } from './context.js';

const POLL_MS = 200;

/** The value of a task result (`<value>OpaqueRef:…</value>` XML-RPC fragment) as a string. */
export function taskResultValue(xml: string): string {
  const m = /^\s*<value>(?:<string>)?([\s\S]*?)(?:<\/string>)?<\/value>\s*$/.exec(xml);
  return m
    ? m[1]
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&quot;/g, '"')
        .replace(/&amp;/g, '&')
    : xml;
}

export async function runAsync(ctx: Ctx, method: string, args: unknown[]): Promise<string> {
  const task = String(await ctx.api.call(ctx.session, `Async.${method}`, args));
  let uuid = '';
  let last = -1;
  for (;;) {
    const t = (await ctx.api.call(ctx.session, 'task.get_record', [task])) as Record<string, unknown>;
    uuid = String(t.uuid);
    const progress = Number(t.progress ?? 0);
    if (progress !== last) {
      ctx.io.debug(`task-progress ${uuid} ${progress.toFixed(3)}`);
      last = progress;
    }
    const status = String(t.status);
    if (status !== 'pending' && status !== 'cancelling') {
      ctx.io.debug(`task-done ${uuid}`);
      await ctx.api.call(ctx.session, 'task.destroy', [task]).catch(() => undefined);
      if (status === 'success') return taskResultValue(String(t.result ?? ''));
      if (status === 'cancelled') throw new XenApiError('TASK_CANCELLED', [task]);
      const info = (t.error_info as string[]) ?? [];
      if (info.length === 0) throw new Error(`Task failed but no error recorded: ${task}`);
      throw new XenApiError(info[0], info.slice(1));
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
