// Helpers the hand-written commands share: command table entries from xapi's facts, and calls
// by parameter name.
import { MODEL } from '../../../shared/datamodel/generated/model.js';
import type { CommandSpec, Ctx } from '../context.js';
import { XAPI_COMMANDS } from '../data/xapi-commands.js';

/** A hand-written command: name, parameters, help and flags as xapi's table has them. */
export function command(name: string, run: (ctx: Ctx) => Promise<void>): CommandSpec {
  const f = XAPI_COMMANDS[name];
  if (!f) throw new Error(`no xapi command ${name}`);
  return { name, reqd: f.reqd, optn: f.optn, help: f.help, flags: f.flags, run };
}

/** Calls a XenAPI message with named arguments (declared defaults for the rest). */
export function callNamed(ctx: Ctx, wire: string, named: Record<string, unknown>, async = false) {
  const [cls, name] = wire.split('.');
  const msg = MODEL.classes[cls]?.messages.find((m) => m.name === name);
  if (!msg) return ctx.api.call(ctx.session, wire, Object.values(named));
  const args: unknown[] = [];
  for (const p of msg.params) {
    if (p.name in named) args.push(named[p.name]);
    else if (!p.required) break;
    else args.push(structuredClone(p.default));
  }
  return ctx.api.call(ctx.session, async ? `Async.${wire}` : wire, args);
}

export const refOf = (ctx: Ctx, cls: string, uuid: string) =>
  ctx.api.call(ctx.session, `${cls}.get_by_uuid`, [uuid]).then(String);

export const uuidOf = (ctx: Ctx, cls: string, ref: string) =>
  ctx.api.call(ctx.session, `${cls}.get_uuid`, [ref]).then(String);
