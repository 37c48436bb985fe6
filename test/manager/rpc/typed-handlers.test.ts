// Handlers receive their messages' declared parameters, typed from the datamodel. The type-level
// half is checked by `npx tsc -p . --noEmit` (this file is in the project): each `@ts-expect-error`
// fails the build if the mistake under it stops being an error. The run-time half checks that
// every explicit handler takes each declared parameter, so none is silently dropped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { HandlerOf, Handlers, SessionlessHandlers } from '../../../src/manager/api/context.js';
import { API_MODULES } from '../../../src/manager/manager.js';
import { jsonRpcCaller } from '../../helpers/json-rpc.js';
import { startManager } from '../../helpers/manager.js';
import type { Ref, ServerParams } from '../../../src/shared/datamodel/generated/api-types.js';
import { MODEL } from '../../../src/shared/datamodel/generated/model.js';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

// The generated tuples: declared order, session left out, optional parameters always present.
const startParams: Equal<ServerParams['VM.start'], [Ref<'VM'>, boolean, boolean]> = true;
const loginParams: Equal<ServerParams['session.login_with_password'], [string, string, string, string]> =
  true;
const createParams: Equal<ServerParams['VBD.create'][0]['VM'], Ref<'VM'> | undefined> = true;

// Unannotated parameters take their types from the datamodel.
const startTyped: HandlerOf<'VM.start'> = (_ctx, vm, paused, force) => {
  const typed: [Ref<'VM'>, boolean, boolean] = [vm, paused, force];
  return typed;
};

export const wrong: Handlers = {
  // @ts-expect-error VM.start's start_paused is a bool, not a string.
  'VM.start': (_ctx, _vm: string, _paused: string, _force: boolean) => undefined,
  // @ts-expect-error VM.start_on takes (vm, host, ...): a host ref is no VM ref.
  'VM.start_on': (_ctx, _host: Ref<'host'>, _vm: Ref<'VM'>, _paused: boolean, _force: boolean) => undefined,
  // @ts-expect-error VM.hard_shutdown has one parameter: a handler cannot expect a second.
  'VM.hard_shutdown': (_ctx, _vm: string, _force: boolean) => undefined,
  // @ts-expect-error VM.create answers a ref (a string), not a number.
  'VM.create': () => 42,
  // @ts-expect-error VM.get_possible_hosts answers a set of refs, not one.
  'VM.get_possible_hosts': () => 'OpaqueRef:x',
};
export const unknownMessage: Handlers = {
  // @ts-expect-error No such message.
  'VM.no_such_message': () => undefined,
};
export const sessionlessAsSession: Handlers = {
  // @ts-expect-error A login-family message is no session handler.
  'session.login_with_password': () => 'OpaqueRef:x',
};

export const wrongSessionless: SessionlessHandlers = {
  // @ts-expect-error session.login_with_password's pwd is a string.
  'session.login_with_password': (_ctx, _uname: string, _pwd: number) => 'OpaqueRef:x',
};

/** Messages whose handler refuses every call (NOT_IMPLEMENTED) and so reads no parameter. */
const REFUSING = new Set(['console.create', 'console.destroy']);

test('the generated parameter types are the declared ones', () => {
  assert.deepEqual([startParams, loginParams, createParams], [true, true, true]);
  assert.equal(typeof startTyped, 'function');
});

test('every explicit handler takes each parameter its message declares', () => {
  const declared = new Map<string, string[]>();
  for (const cls of Object.values(MODEL.classes))
    for (const m of cls.messages)
      declared.set(
        m.wire,
        m.params.map((p) => p.name),
      );
  const short: string[] = [];
  for (const mod of API_MODULES) {
    const tables: Record<string, unknown>[] = [mod.handlers, mod.sessionless ?? {}];
    for (const [wire, h] of tables.flatMap((t) => Object.entries(t))) {
      const params = declared.get(wire);
      assert.ok(params, `handler for unknown message ${wire}`);
      if (REFUSING.has(wire)) continue;
      // Function.length counts the parameters before any default or rest; the first is ctx.
      const takes = (h as (...a: unknown[]) => unknown).length - 1;
      if (takes !== params.length) short.push(`${wire} takes ${takes} of (${params.join(', ')})`);
    }
  }
  assert.deepEqual(short, []);
});

test('host.has_extension and pool.has_extension check the object they are asked about', async (t) => {
  const tm = await startManager(t);
  const rpc = jsonRpcCaller(tm.httpUrl);
  const session = (await rpc('session.login_with_password', ['root', tm.rootPassword, '1.0', 'test']))
    .result as string;
  const host = (await rpc('host.get_all', [session])).result as string[];
  const pool = (await rpc('pool.get_all', [session])).result as string[];
  assert.equal((await rpc('host.has_extension', [session, host[0], 'x'])).result, false);
  assert.equal((await rpc('pool.has_extension', [session, pool[0], 'x'])).result, false);
  for (const wire of ['host.has_extension', 'pool.has_extension']) {
    const bogus = await rpc(wire, [session, 'OpaqueRef:no-such-object', 'x']);
    assert.deepEqual(bogus.error?.message, 'HANDLE_INVALID', wire);
  }
});
