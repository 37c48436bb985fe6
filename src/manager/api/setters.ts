// Carries out the setter rules (validation/setter-rules.ts) for the setters, adders and removers
// xapi implements by hand: the caller's rights (guards), the VM operation, the checks, then the
// write and its side effects (balloon, vCPU hot-plug, allowed_operations...). The generic field
// accessors (implicit.ts) call applySetter when a rule exists; the messages that are not plain
// field accessors get their handlers here.
import { MODEL } from '../../shared/datamodel/generated/model.js';
import type { MessageSpec } from '../../shared/datamodel/model-types.js';
import { XenApiError } from '../../shared/errors.js';
import type { Row } from '../db/database.js';
import { assertOperationValid } from '../vm/lifecycle.js';
import { refreshAllowedOperations } from '../vm/vm-state.js';
import { type SetterEffect, type SetterRule, SETTER_RULES } from '../validation/setter-rules.js';
import type { CallContext, Handler, HandlerTable } from './context.js';
import { checkTaskOwner } from './task.js';
import { agentOfVm } from './vm.js';

/** A host agent that can hot-plug vCPUs (an optional capability of the agent). */
interface VcpuHotplug {
  setVcpus(uuid: string, n: number): Promise<unknown>;
}

function ruleOf(msg: MessageSpec): SetterRule {
  const rule = SETTER_RULES[msg.wire];
  if (!rule) throw new Error(`no setter rule for ${msg.wire}`);
  return rule;
}

/** The caller guards and the VM operation: checked before anything is computed. */
function admit(ctx: CallContext, rule: SetterRule, self: string, row: Row, args: unknown[]) {
  for (const g of rule.guards ?? []) if (g === 'task_owner') checkTaskOwner(ctx, self);
  const op = typeof rule.op === 'function' ? rule.op(args) : rule.op;
  if (op) assertOperationValid(self, row, op);
}

/** Effects on the running guest, before the record changes (a refusal leaves it unchanged). */
async function guestEffects(ctx: CallContext, effects: SetterEffect[], row: Row, write: Row) {
  if (row.power_state !== 'Running') return;
  const uuid = String(row.uuid);
  for (const e of effects) {
    if (e === 'balloon_dynamic_max')
      await agentOfVm(ctx.svc, row).balloon(uuid, Number(write.memory_dynamic_max));
    if (e === 'balloon_target') await agentOfVm(ctx.svc, row).balloon(uuid, Number(write.memory_target));
    if (e === 'vcpus_live') {
      const n = Number(write.VCPUs_at_startup);
      const metrics = ctx.svc.db.get('VM_metrics', String(row.metrics));
      if (Number(metrics?.VCPUs_number) === n) continue;
      const agent = agentOfVm(ctx.svc, row) as Partial<VcpuHotplug>;
      // xapi answers NOT_IMPLEMENTED [fn] when its backend lacks a feature.
      if (typeof agent.setVcpus !== 'function')
        throw new XenApiError('NOT_IMPLEMENTED', ['VM.set_VCPUs_number_live']);
      await agent.setVcpus(uuid, n);
    }
  }
}

/** Effects on other records, in the write's transaction. */
function recordEffects(
  ctx: CallContext,
  effects: SetterEffect[],
  cls: string,
  self: string,
  row: Row,
  write: Row,
) {
  const { db } = ctx.svc;
  for (const e of effects) {
    if (e === 'allowed_operations' && cls === 'VM') refreshAllowedOperations(db, self);
    if (e === 'vcpus_live' && row.power_state === 'Running' && db.has('VM_metrics', String(row.metrics)))
      db.update('VM_metrics', String(row.metrics), { VCPUs_number: Number(write.VCPUs_at_startup) });
    if (e === 'bond_slave_properties') {
      for (const bond of (row.bond_master_of as string[]) ?? [])
        for (const slave of (db.get('Bond', bond)?.slaves as string[]) ?? [])
          if (db.has('PIF', slave)) db.update('PIF', slave, { properties: write.properties });
    }
  }
}

/**
 * Runs a hand-implemented setter: the object must exist (HANDLE_INVALID), then the rule's guards,
 * VM operation and checks, then the write (the rule's own, or `generic` — the field accessor's,
 * undefined when there is nothing to change) and the side effects.
 */
export async function applySetter(
  ctx: CallContext,
  msg: MessageSpec,
  self: string,
  args: unknown[],
  generic?: (row: Row) => Row | undefined,
  checkRefs?: (write: Row) => void,
): Promise<void> {
  const rule = ruleOf(msg);
  const { db } = ctx.svc;
  const row = db.mustGet(msg.cls, self);
  admit(ctx, rule, self, row, args);
  const write = rule.propose ? rule.propose(row, args) : generic?.(row);
  rule.check?.({ ref: self, row, args, write: write ?? {}, db });
  if (write === undefined) return;
  checkRefs?.(write);
  const effects = rule.effects ?? [];
  await guestEffects(ctx, effects, row, write);
  db.transaction(() => {
    if (Object.keys(write).length) db.update(msg.cls, self, write);
    recordEffects(ctx, effects, msg.cls, self, row, write);
  });
}

/** For explicit handlers that do their own write: the rule's guards, operation and checks. */
export function checkSetter(ctx: CallContext, wire: string, self: string, args: unknown[]): void {
  const msg = ctx.svc.db.model.classes[wire.slice(0, wire.indexOf('.'))]?.messages.find(
    (m) => m.wire === wire,
  );
  if (!msg) throw new Error(`unknown message ${wire}`);
  const rule = ruleOf(msg);
  const row = ctx.svc.db.mustGet(msg.cls, self);
  admit(ctx, rule, self, row, args);
  rule.check?.({ ref: self, row, args, write: {}, db: ctx.svc.db });
}

/** Is the first declared parameter the object itself (not so for pool.set_vswitch_controller)? */
const selfFirst = (msg: MessageSpec) =>
  msg.params[0]?.type.kind === 'ref' && msg.params[0].type.cls === msg.cls;

/** The handler of a rule-table message that is no plain field accessor (VM.set_memory_limits...). */
function ruleHandler(msg: MessageSpec): Handler {
  if (selfFirst(msg)) return (ctx, self: string, ...args: unknown[]) => applySetter(ctx, msg, self, args);
  return (ctx, ...args: unknown[]) => applySetter(ctx, msg, ctx.svc.poolRef(), args);
}

/**
 * Explicit handlers for the rule-table messages the generic accessors (implicit.ts) do not
 * serve: those without a generic kind, and those whose parameters do not start with `self`.
 */
function setterHandlers(): Record<string, Handler> {
  const out: Record<string, Handler> = {};
  for (const cls of Object.values(MODEL.classes)) {
    for (const m of cls.messages) {
      if (!SETTER_RULES[m.wire] || m.implicit) continue;
      if (!m.generic || !selfFirst(m)) out[m.wire] = ruleHandler(m);
    }
  }
  return out;
}

export const setterApi: HandlerTable = { handlers: {}, fromSpecs: setterHandlers() };
