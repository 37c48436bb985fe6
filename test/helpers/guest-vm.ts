// A real guest on a real stack (agent and manager as processes): the daemons started and a
// client, a VM cloned from the test template, and the guest's serial console as a shell.
import type { TestContext } from 'node:test';
import { typeLine } from '../agent/helpers/guest.js';
import { ensureGuest, type Stack, startStack, waitFor } from './stack.js';

/** A XenAPI call on the stack; a failure's message starts with the method. */
export type Call = (method: string, ...args: unknown[]) => Promise<any>;

/** Ensures the guest is built, starts agent and manager on `port`, and logs in. */
export async function startGuestStack(t: TestContext, port: number) {
  await ensureGuest();
  const stack = await startStack(t, port);
  await stack.startAgent();
  await stack.startManager();
  const c = await stack.client();
  const call: Call = (m, ...a) =>
    ((c.call as any)(m, ...a) as Promise<any>).catch((e: any) => {
      e.message = `${m}: ${e.message}`;
      throw e;
    });
  return { stack, call, client: c };
}

/** A halted VM `name` cloned from the test template and provisioned; with the default SR. */
export async function testGuestVm(
  call: Call,
  name: string,
): Promise<{ vm: string; uuid: string; sr: string }> {
  const [tmpl] = await call('VM.get_by_name_label', 'Berth test guest');
  const vm = await call('VM.clone', tmpl, name);
  await call('VM.provision', vm);
  await call('VM.set_is_a_template', vm, false);
  const uuid = await call('VM.get_uuid', vm);
  const [pool] = await call('pool.get_all');
  const sr = await call('pool.get_default_SR', pool);
  return { vm, uuid, sr };
}

/**
 * The guest's serial console as a shell: types `line` and resolves with the first match of `re`
 * in what the console prints after it (within `ms`).
 */
export function guestShell(stack: Stack, uuid: string) {
  return async (line: string, re: RegExp, ms = 60_000): Promise<RegExpExecArray> => {
    const from = stack.consoleLog(uuid).length;
    await typeLine(`${stack.runDir}/${uuid}/serial.sock`, line);
    let m: RegExpExecArray | null = null;
    await waitFor(
      () => (m = re.exec(stack.consoleLog(uuid).slice(from))) !== null,
      ms,
      `${re} on the console`,
    );
    return m!;
  };
}

/** Waits for the guest's boot marker, then until its shell answers (a line typed too early is lost). */
export async function waitGuestShell(
  stack: Stack,
  uuid: string,
  bootMs: number,
  shell = guestShell(stack, uuid),
): Promise<void> {
  await waitFor(() => stack.consoleLog(uuid).includes('BERTH-GUEST-READY'), bootMs, 'boot marker');
  for (let i = 0; ; i++) {
    try {
      await shell('echo SHELL-$((40+2))', /SHELL-42/, 15_000);
      return;
    } catch (e) {
      if (i === 5) throw e;
    }
  }
}
