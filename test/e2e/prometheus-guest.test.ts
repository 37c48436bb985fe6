// Issue 16's Prometheus check on a real host: agent and manager as processes, a real guest
// burning its vCPU, Debian's real Prometheus scraping /metrics with Basic auth every second. The
// VM's cpu0 and the host's cpu_avg that Prometheus answers through /api/v1/query are exactly the
// ones Berth serves at that moment, and the busy vCPU reads as busy.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { guestShell, startGuestStack, testGuestVm } from '../helpers/guest-vm.js';
import {
  eventually,
  freePort,
  havePrometheus,
  promtoolCheck,
  startPrometheus,
} from '../helpers/prometheus-server.js';
import { waitFor } from '../helpers/stack.js';

const BOOT_MS = 120_000;

/** The value of `name`'s sample whose labels include `label` (undefined: none). */
function sampleValue(text: string, name: string, label: string): number | undefined {
  for (const line of text.split('\n'))
    if (line.startsWith(`${name}{`) && line.includes(label))
      return Number(line.slice(line.lastIndexOf(' ') + 1));
  return undefined;
}

test("Prometheus reads a running guest's busy vCPU exactly as Berth serves it", {
  skip: !havePrometheus(),
  timeout: 400_000,
}, async (t) => {
  const { stack, call } = await startGuestStack(t, await freePort());
  const { vm, uuid } = await testGuestVm(call, 'prometheus guest');
  const [host] = await call('host.get_all');
  const hostUuid = await call('host.get_uuid', host);
  await call('VM.start', vm, false, false);
  await waitFor(() => stack.consoleLog(uuid).includes('BERTH-GUEST-READY'), BOOT_MS, 'boot marker');
  await guestShell(stack, uuid)('(while :; do :; done) & echo BURN-$((40+2))', /BURN-42/);

  const password = readFileSync(join(stack.dir, 'data', 'root-password'), 'utf8').trim();
  const basic = `Basic ${Buffer.from(`root:${password}`).toString('base64')}`;
  const berth = async () =>
    (await fetch(`${stack.url}/metrics`, { headers: { authorization: basic } })).text();
  const prom = await startPrometheus(t, new URL(stack.url).host, { basic: { user: 'root', password } });

  const vmLabel = `vm="${uuid}"`;
  const hostLabel = `host="${hostUuid}"`;
  // Berth's figures change every 5 s: read Berth, Prometheus, Berth again until all three agree.
  const agreed = await eventually(
    async () => {
      const before = await berth();
      const [pVm] = await prom.query(`berth_vm_cpu0{${vmLabel}}`);
      const [pHost] = await prom.query(`berth_host_cpu_avg{${hostLabel}}`);
      const after = await berth();
      const vmCpu = sampleValue(before, 'berth_vm_cpu0', vmLabel);
      const hostCpu = sampleValue(before, 'berth_host_cpu_avg', hostLabel);
      if (vmCpu === undefined || hostCpu === undefined || !pVm || !pHost) return undefined;
      if (sampleValue(after, 'berth_vm_cpu0', vmLabel) !== vmCpu) return undefined;
      if (sampleValue(after, 'berth_host_cpu_avg', hostLabel) !== hostCpu) return undefined;
      if (Number(pVm.value[1]) !== vmCpu || Number(pHost.value[1]) !== hostCpu) return undefined;
      return { vmCpu, hostCpu, labels: pVm.metric, text: before };
    },
    90_000,
    'the same VM cpu0 and host cpu_avg in Prometheus and in Berth',
  ).catch((e) => assert.fail(`${e}\n${prom.log()}`));
  t.diagnostic(`VM cpu0 ${agreed.vmCpu}, host cpu_avg ${agreed.hostCpu} in both`);
  assert.equal(agreed.labels.host, hostUuid);
  assert.equal(agreed.labels.name_label, 'prometheus guest');
  // A vCPU spinning under TCG keeps its QEMU thread busy (the machine is shared: not near 1).
  assert.ok(agreed.vmCpu > 0.15 && agreed.vmCpu <= 1.05, `VM cpu0 ${agreed.vmCpu}`);
  assert.ok(agreed.hostCpu > 0 && agreed.hostCpu <= 1, `host cpu_avg ${agreed.hostCpu}`);
  // Every name the real samplers produce is a valid exposition (promtool also lints it).
  const check = promtoolCheck(agreed.text);
  assert.equal(check.status, 0, check.output);
  const [up] = await prom.query(`berth_scrape_host_up{${hostLabel}}`);
  assert.equal(up.value[1], '1');
});
