// The checks VM.start/start_on and VM.resume/resume_on skip when called with force=true
// (validation/start-checks.ts), run after the operation's own validity so that a VM in the
// wrong state still gets xapi's VM_BAD_POWER_STATE first.
import type { CallContext } from './context.js';
import { checkOperation } from '../vm/lifecycle.js';
import { cpuCompatError, startMemoryError } from '../validation/start-checks.js';

export function checkStartUnlessForced(ctx: CallContext, vm: string, op: string, force: boolean): void {
  if (force) return;
  const row = ctx.svc.db.mustGet('VM', vm);
  const e = checkOperation(vm, row, op) ?? startMemoryError(row);
  if (e) throw e;
}

export function checkResumeUnlessForced(
  ctx: CallContext,
  vm: string,
  host: string,
  op: string,
  force: boolean,
): void {
  if (force) return;
  const row = ctx.svc.db.mustGet('VM', vm);
  const e = checkOperation(vm, row, op) ?? cpuCompatError(vm, row, host, ctx.svc.db.mustGet('host', host));
  if (e) throw e;
}
