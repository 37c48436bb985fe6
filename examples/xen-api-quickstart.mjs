#!/usr/bin/env node
// Quick start with Xen Orchestra's `xen-api` npm client, unchanged, against Berth: install a VM
// from the default template, start it, see `Running` arrive as an event, reach its console through
// HTTP CONNECT /console, shut it down cleanly and remove it.
//
//   node examples/xen-api-quickstart.mjs [URL] [--user root] [--password PW | env BERTH_PASSWORD]
//                                        [--pause-file FILE] [--boot-wait SECONDS] [--keep]
//
// URL defaults to https://127.0.0.1 (the README's run command listens there; its certificate is
// self-signed). The password defaults to BERTH_PASSWORD or /var/lib/berth/root-password.
// --pause-file: once the VM runs, print "PAUSED" and wait until FILE exists (used by the test
// that SIGKILLs the manager and the agent meanwhile), then check the VM is still Running.
// --boot-wait: a guest ignores the ACPI power button until its kernel is up, and a clean shutdown
// then only ends with VM_SHUTDOWN_TIMEOUT (2 minutes by default); so the shutdown is not asked for
// before this many seconds after the start (default 30; the test guest boots in ~6-30 s under TCG).
// --keep: leave the VM running. Without it, a failure removes the VM (hard shutdown, destroy).
import { readFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { createClient } from 'xen-api';

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  if (i < 0) return dflt;
  const v = argv[i + 1];
  argv.splice(i, 2);
  return v;
};
const flag = (name) => {
  const i = argv.indexOf(name);
  if (i >= 0) argv.splice(i, 1);
  return i >= 0;
};
const user = opt('--user', 'root');
const pauseFile = opt('--pause-file');
const keep = flag('--keep');
const bootWait = Number(opt('--boot-wait', '30')) * 1000;
const password =
  opt('--password') ??
  process.env.BERTH_PASSWORD ??
  readFileSync('/var/lib/berth/root-password', 'utf8').trim();
const url = argv[0] ?? 'https://127.0.0.1';
const t0 = Date.now();
const step = (what) => console.log(`[${String(Date.now() - t0).padStart(6)} ms] ${what}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Waits until the client's object cache shows `pred(vm)` (fed by the XenAPI event stream). */
function waitForEvent(xapi, ref, pred, what, ms = 180_000) {
  return new Promise((resolve, reject) => {
    const check = (objs) => {
      const o = objs[ref] ?? Object.values(objs).find((x) => x.$ref === ref);
      if (o && pred(o)) {
        clearTimeout(timer);
        xapi.objects.removeListener('update', check);
        xapi.objects.removeListener('add', check);
        resolve(o);
      }
    };
    const timer = setTimeout(() => reject(new Error(`no event: ${what}`)), ms);
    xapi.objects.on('update', check);
    xapi.objects.on('add', check);
  });
}

/** HTTP CONNECT /console?ref=…&session_id=… then the VNC server's RFB banner. */
function consoleBanner(base, location, session) {
  const u = new URL(base);
  const loc = new URL(location);
  const path = `${loc.pathname}${loc.search}&session_id=${encodeURIComponent(session)}`;
  const port = Number(u.port) || (u.protocol === 'https:' ? 443 : 80);
  return new Promise((resolve, reject) => {
    const s =
      u.protocol === 'https:'
        ? tls.connect({ host: u.hostname, port, rejectUnauthorized: false })
        : net.connect(port, u.hostname);
    let buf = '';
    s.setTimeout(20_000, () => s.destroy(new Error('console: no answer')));
    s.on('error', reject);
    s.on('data', (d) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end >= 0 && buf.length >= end + 4 + 12) {
        s.destroy();
        resolve({ status: buf.slice(0, buf.indexOf('\r\n')), banner: buf.slice(end + 4, end + 4 + 12) });
      }
    });
    s.write(`CONNECT ${path} HTTP/1.0\r\ncontent-length: 0\r\n\r\n`);
  });
}

const xapi = createClient({
  url,
  auth: { user, password },
  allowUnauthorized: true,
  // 'task' too: xen-api re-reads all tasks whenever event.from's task count differs from its own.
  watchEvents: ['VM', 'console', 'task'],
  debounce: 10,
  // After a failed event.from (e.g. the manager restarting) xen-api waits this long before it
  // polls again; its default is a minute, which is long for a demo that restarts daemons.
  eventPollDelay: 2000,
});
await xapi.connect();
await xapi.objectsFetched;
step(`connected to ${url}`);

const [template] = await xapi.call('VM.get_by_name_label', 'Berth test guest');
if (!template) throw new Error('no default template "Berth test guest"');
const vm = await xapi.call('VM.clone', template, `quickstart-${process.pid}`);
await xapi.call('VM.provision', vm);
await xapi.call('VM.set_is_a_template', vm, false);
const uuid = await xapi.call('VM.get_uuid', vm);
step(`installed VM ${uuid} from the default template`);

try {
  const running = waitForEvent(xapi, vm, (o) => o.power_state === 'Running', 'power_state Running');
  await xapi.call('VM.start', vm, false, false);
  const startedAt = Date.now();
  step('VM.start returned');
  await running;
  step('event: power_state = Running');

  const [consoleRef] = await xapi.call('VM.get_consoles', vm);
  const location = await xapi.call('console.get_location', consoleRef);
  const { status, banner } = await consoleBanner(url, location, xapi.sessionId);
  if (!/ 200 /.test(status) || !banner.startsWith('RFB ')) throw new Error(`console: ${status} ${banner}`);
  step(`console: ${status.trim()}, server says ${banner.trim()}`);

  if (pauseFile) {
    console.log('PAUSED');
    while (!existsSync(pauseFile)) await sleep(100);
    // Daemons may have restarted meanwhile: ask fresh (the client logs in again if it must).
    for (let i = 0; ; i++) {
      try {
        const state = await xapi.call('VM.get_power_state', vm);
        if (state !== 'Running') throw new Error(`after the restarts the VM is ${state}`);
        break;
      } catch (e) {
        if (i > 100 || /after the restarts/.test(String(e))) throw e;
        await sleep(200);
      }
    }
    step('still Running after the daemons restarted');
  }

  if (!keep) {
    const early = startedAt + bootWait - Date.now();
    if (early > 0) {
      step(`waiting ${Math.ceil(early / 1000)} s for the guest's kernel to handle the ACPI power button`);
      await sleep(early);
    }
    // If the guest was still not listening, the shutdown times out: press the button again.
    const isHalted = (o) => o.power_state === 'Halted';
    const halted = waitForEvent(xapi, vm, isHalted, 'power_state Halted', 15 * 60_000);
    halted.catch(() => {}); // (awaited below; no unhandled rejection while the retries run)
    for (let i = 0; ; i++) {
      try {
        await xapi.call('VM.clean_shutdown', vm);
        step('VM.clean_shutdown returned');
        break;
      } catch (e) {
        if (i >= 5 || e.code !== 'VM_SHUTDOWN_TIMEOUT') throw e;
      }
    }
    await halted;
    step('VM.clean_shutdown: event power_state = Halted');
    await xapi.call('VM.destroy', vm);
    step('VM destroyed');
  }
} catch (e) {
  // Leave nothing behind on a failure (unless asked to keep the VM): force it off and remove it.
  if (!keep) {
    try {
      if ((await xapi.call('VM.get_power_state', vm)) !== 'Halted') await xapi.call('VM.hard_shutdown', vm);
      await xapi.call('VM.destroy', vm);
      step('failed: VM removed');
    } catch (e2) {
      step(`failed, and could not remove VM ${uuid}: ${e2.message}`);
    }
  }
  console.error(e);
  process.exit(1);
}
await xapi.disconnect();
