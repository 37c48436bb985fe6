// Real VMs through the XenAPI: install from the default template, start a real QEMU guest (TCG),
// see Running arrive as an event, reach the console through /console, survive SIGKILL of the
// agent and of the manager, see guest-initiated power-off, shut down cleanly; no QEMU left over.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { ensureGuest, startStack, waitFor } from '../helpers/stack.js';

const BOOT_MS = 120_000;

function alive(pid: number) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** CONNECT /console → HTTP 200, then the VNC server's RFB banner. */
function rfbBanner(url: string, location: string, session: string): Promise<string> {
  const u = new URL(url);
  const path = `${new URL(location).pathname}${new URL(location).search}&session_id=${session}`;
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      const i = buf.indexOf('\r\n\r\n');
      if (i >= 0 && buf.length > i + 4 + 11) {
        s.destroy();
        resolve(`${buf.slice(0, buf.indexOf('\r\n'))}|${buf.slice(i + 4, i + 4 + 12)}`);
      }
    });
    s.on('error', reject);
    // The server refusing (403/404) closes the connection: report its status line.
    s.on('close', () => reject(new Error(`console refused: ${buf.slice(0, buf.indexOf('\r\n'))}`)));
    s.setTimeout(20_000, () => {
      s.destroy();
      reject(new Error(`console: no answer (${buf})`));
    });
    s.write(`CONNECT ${path} HTTP/1.0\r\ncontent-length: 0\r\n\r\n`);
  });
}

test('a VM from the default template boots, survives daemon SIGKILLs, and shuts down', {
  timeout: 600_000,
}, async (t) => {
  await ensureGuest();
  const stack = await startStack(t, 18700 + Math.floor(Math.random() * 200));
  await stack.startAgent();
  await stack.startManager();
  const c = await stack.client();
  const call = (m: string, ...a: unknown[]) => (c.call as any)(m, ...a) as Promise<any>;

  // vm-install: clone the template, provision, make it a VM.
  const [tmpl] = await call('VM.get_by_name_label', 'Berth test guest');
  const vm = await call('VM.clone', tmpl, 'e2e');
  await call('VM.provision', vm);
  await call('VM.set_is_a_template', vm, false);
  assert.ok((await call('VM.get_allowed_operations', vm)).includes('start'));
  const uuid = await call('VM.get_uuid', vm);

  // Running arrives as an event.
  let { token } = await call('event.from', ['vm'], '', 0);
  const t0 = Date.now();
  await call('VM.start', vm, false, false);
  const startMs = Date.now() - t0;
  let sawRunning = false;
  while (!sawRunning) {
    const batch = await call('event.from', ['vm'], token, 10);
    token = batch.token;
    sawRunning = batch.events.some((e: any) => e.ref === vm && e.snapshot?.power_state === 'Running');
  }
  t.diagnostic(`VM.start returned in ${startMs} ms`);
  const rec = await call('VM.get_record', vm);
  assert.equal(rec.resident_on, await call('session.get_this_host', c.sessionRef));
  assert.ok(rec.domid > 0);
  const metrics = await call('VM_metrics.get_record', rec.metrics);
  assert.equal(metrics.VCPUs_number, 1);
  await waitFor(() => stack.consoleLog(uuid).includes('BERTH-GUEST-READY'), BOOT_MS, 'boot marker');

  // The console: CONNECT through the manager reaches the VM's VNC server.
  const [consoleRef] = rec.consoles;
  const location = await call('console.get_location', consoleRef);
  assert.match(location, /\/console\?ref=OpaqueRef:/);
  const banner = await rfbBanner(stack.url, location, c.sessionRef!);
  assert.match(banner, /^HTTP\/1\.1 200 OK\|RFB 003\.00\d/);
  await assert.rejects(rfbBanner(stack.url, location, 'OpaqueRef:bad'), /403 Forbidden/);

  // SIGKILL the agent: the VM keeps running; a new agent adopts it.
  const [pid] = stack.qemuPids();
  assert.ok(pid && alive(pid));
  await stack.kill('agent');
  assert.ok(alive(pid), 'QEMU survives the agent');
  await stack.startAgent();
  // SIGKILL the manager too: on restart it reconciles with the agent.
  await stack.kill('manager');
  assert.ok(alive(pid), 'QEMU survives the manager');
  await stack.startManager();
  const c2 = await stack.client();
  const call2 = (m: string, ...a: unknown[]) => (c2.call as any)(m, ...a) as Promise<any>;
  await waitFor(
    async () => (await call2('VM.get_power_state', vm)) === 'Running',
    20_000,
    'reconciled state',
  );
  assert.equal(await call2('VM.get_power_state', vm), 'Running');

  // pause / unpause
  await call2('VM.pause', vm);
  assert.equal(await call2('VM.get_power_state', vm), 'Paused');
  await assert.rejects(
    call2('VM.pause', vm),
    (e: any) => e.code === 'VM_BAD_POWER_STATE' && e.params[1] === 'running' && e.params[2] === 'paused',
  );
  await call2('VM.unpause', vm);
  assert.equal(await call2('VM.get_power_state', vm), 'Running');

  // Clean shutdown: ACPI power button, QEMU gone, Halted.
  await call2('VM.clean_shutdown', vm);
  assert.equal(await call2('VM.get_power_state', vm), 'Halted');
  await waitFor(() => !alive(pid), 10_000, 'QEMU to exit');
  assert.equal(stack.qemuPids().length, 0);
  assert.equal(await call2('VM.get_resident_on', vm), 'OpaqueRef:NULL');
  await assert.rejects(
    call2('VM.clean_shutdown', vm),
    (e: any) => e.code === 'VM_BAD_POWER_STATE' && e.params[2] === 'halted',
  );
});

test("a guest that powers itself off is seen Halted within a second; QEMU killed behind Berth's back is reported", {
  timeout: 600_000,
}, async (t) => {
  await ensureGuest();
  const stack = await startStack(t, 18900 + Math.floor(Math.random() * 90));
  await stack.startAgent();
  await stack.startManager();
  const c = await stack.client();
  const call = (m: string, ...a: unknown[]) => (c.call as any)(m, ...a) as Promise<any>;
  const [tmpl] = await call('VM.get_by_name_label', 'Berth test guest');
  const vm = await call('VM.clone', tmpl, 'self-off');
  await call('VM.set_is_a_template', vm, false);
  const uuid = await call('VM.get_uuid', vm);
  await call('VM.start', vm, false, false);
  await waitFor(() => stack.consoleLog(uuid).includes('BERTH-GUEST-READY'), BOOT_MS, 'boot marker');

  // The guest powers off by itself (typed on its serial console).
  const serial = connect(`${stack.runDir}/${uuid}/serial.sock`);
  await new Promise((r) => serial.once('connect', r));
  serial.write('\npoweroff -f\n');
  const t0 = Date.now();
  await waitFor(
    async () => (await call('VM.get_power_state', vm)) === 'Halted',
    30_000,
    'Halted after guest power-off',
  );
  serial.destroy();
  t.diagnostic(`guest power-off seen after ${Date.now() - t0} ms`);

  // QEMU dies while the agent is down: the manager marks the VM Halted and leaves a message.
  await call('VM.start', vm, false, false);
  const [pid] = stack.qemuPids();
  await stack.kill('agent');
  process.kill(pid, 'SIGKILL');
  await stack.startAgent();
  await waitFor(
    async () => (await call('VM.get_power_state', vm)) === 'Halted',
    30_000,
    'Halted after QEMU died',
  );
  const messages = Object.values(await call('message.get_all_records')) as any[];
  assert.ok(
    messages.some((m) => m.name === 'VM_CRASHED' && m.obj_uuid === uuid),
    JSON.stringify(messages),
  );
});
