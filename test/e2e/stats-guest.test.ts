// Statistics of a real guest (agent and manager as processes, QEMU under TCG): a guest that
// burns CPU (a busy loop typed on its serial console) and writes to a disk (O_DIRECT dd) shows up
// in /rrd_updates, fetched over HTTP with a session as clients do, within 10 s with plausible
// values: its vCPU busy, its disk written. /vm_rrd then gives its full RRD.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDumpXml } from '../../src/shared/rrd/dump.js';
import { guestShell, startGuestStack, testGuestVm, waitGuestShell } from '../helpers/guest-vm.js';
import { vbdRecord, vdiRecord } from '../helpers/records.js';

const BOOT_MS = 120_000;
const MiB = 1024 * 1024;

interface Xport {
  meta: { end: string; legend: string[] };
  data: { t: string; values: string[] }[];
}

test('a busy guest shows in /rrd_updates within 10 s; /vm_rrd dumps its RRD', {
  timeout: 600_000,
}, async (t) => {
  const { stack, call, client } = await startGuestStack(t, 20100 + Math.floor(Math.random() * 200));
  const { vm, uuid, sr } = await testGuestVm(call, 'stats-e2e');
  const vdi = await call('VDI.create', vdiRecord(sr, 32 * MiB, { name_label: 'stats data' }));
  await call('VBD.create', vbdRecord(vm, vdi, { userdevice: '1', bootable: false })); // /dev/vda
  await call('VM.start', vm, false, false);
  t.after(() => call('VM.hard_shutdown', vm).catch(() => undefined));
  const shell = guestShell(stack, uuid);
  await waitGuestShell(stack, uuid, BOOT_MS, shell);

  const session = client.sessionRef!;
  const updates = async (start: number): Promise<Xport> => {
    const r = await fetch(
      `${stack.url}/rrd_updates?start=${start}&host=true&json=true&vm_uuid=${uuid}&session_id=${session}`,
    );
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'application/json');
    return (await r.json()) as Xport;
  };
  /** The newest known value of the VM's columns matching `re`. */
  const newest = (x: Xport, re: RegExp): number | undefined => {
    for (const row of x.data)
      for (const [i, entry] of x.meta.legend.entries()) {
        const [cf, owner, who, name] = entry.split(':');
        if (cf === 'AVERAGE' && owner === 'vm' && who === uuid && re.test(name)) {
          const v = Number(row.values[i]);
          if (Number.isFinite(v)) return v;
        }
      }
    return undefined;
  };

  await shell(
    '(while :; do :; done) & (while :; do dd if=/dev/zero of=/dev/vda bs=65536 count=64 oflag=direct 2>/dev/null; done) & echo BURN-$((6*7))',
    /BURN-42/,
  );
  const burning = Date.now();
  const since = Math.floor(burning / 1000);
  let seen: { cpu?: number; write?: number; after: number } = { after: 0 };
  while (Date.now() - burning < 10_000) {
    await new Promise((r) => setTimeout(r, 1000));
    const x = await updates(since - 5);
    // Only rows after the burn started count (the guest was idle before).
    const fresh: Xport = { ...x, data: x.data.filter((row) => Number(row.t) > since) };
    seen = {
      cpu: newest(fresh, /^cpu0$/),
      write: newest(fresh, /^vbd_.+_write$/),
      after: Date.now() - burning,
    };
    if ((seen.cpu ?? 0) > 0.3 && (seen.write ?? 0) > 0) break;
  }
  t.diagnostic(`after ${seen.after} ms: cpu0 ${seen.cpu}, vbd write ${seen.write} B/s`);
  assert.ok((seen.cpu ?? 0) > 0.3, `vCPU busy: cpu0 ${seen.cpu}`);
  assert.ok((seen.cpu ?? 0) <= 1.05, `a fraction of one CPU: ${seen.cpu}`);
  assert.ok((seen.write ?? 0) > 0, `disk written: ${seen.write}`);

  const dump = await fetch(`${stack.url}/vm_rrd?uuid=${uuid}&session_id=${session}`);
  assert.equal(dump.status, 200);
  assert.equal(dump.headers.get('content-type'), 'text/xml');
  const text = await dump.text();
  assert.match(text, /<name>cpu0<\/name>/);
  parseDumpXml(text); // xapi's layout, complete
  await call('VM.hard_shutdown', vm);
});
