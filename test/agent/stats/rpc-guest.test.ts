// One real guest (QEMU, TCG) on an agent that samples for real: within a few 5 s cycles its
// /rrd_updates (XML, over the agent's RPC) carries the VM's cpu0 and disk columns with numbers.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { guest, sleep, spec } from '../helpers/guest.js';
import { startGuestAgent } from '../helpers/guest-agent.js';

const VM = '5e5e5e5e-1111-4222-8333-444455556666';
const HOST = 'aaaaaaaa-1111-4222-8333-444455556666';

/** The legend and rows of an /rrd_updates XML body. */
function parseXport(xml: string): { legend: string[]; rows: string[][] } {
  const legend = [...xml.matchAll(/<entry>([^<]*)<\/entry>/g)].map((m) => m[1]);
  const rows = [...xml.matchAll(/<row>(.*?)<\/row>/g)].map((m) =>
    [...m[1].matchAll(/<v>([^<]*)<\/v>/g)].map((v) => v[1]),
  );
  return { legend, rows };
}

test('a running guest shows in rrd_updates with its vCPU and disk figures', {
  timeout: 120_000,
}, async (t) => {
  const { kernel, initrd } = guest();
  const { dir, client } = await startGuestAgent(t, 'berth-agent-store-guest-', {
    stats: {}, // the real sampler, every 5 s
  });
  const disk = join(dir, 'disk.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '32M']);
  await client.call('instance_start', [
    spec(VM, { kernel, initrd, disks: [{ device: 'xvda', path: disk, format: 'qcow2', readonly: false }] }),
  ]);

  const started = Date.now();
  let last = '';
  const numeric = (v: string | undefined) => v !== undefined && v !== 'NaN' && Number.isFinite(Number(v));
  for (;;) {
    await sleep(1000);
    last = await client.stats.stats_rrd_updates({
      start: Math.floor(Date.now() / 1000) - 60,
      interval: 5,
      host: true,
      srUuids: [],
      json: false,
      hostUuid: HOST,
    });
    const { legend, rows } = parseXport(last);
    const col = (re: RegExp) => legend.findIndex((l) => re.test(l));
    const cpu = col(new RegExp(`^AVERAGE:vm:${VM}:cpu0$`));
    const vbd = col(new RegExp(`^AVERAGE:vm:${VM}:vbd_xvda_(read|write)$`));
    const hostCpu = col(new RegExp(`^AVERAGE:host:${HOST}:cpu0$`));
    if (cpu >= 0 && vbd >= 0 && hostCpu >= 0 && rows.some((r) => numeric(r[cpu]) && numeric(r[vbd]))) {
      const row = rows.find((r) => numeric(r[cpu]) && numeric(r[vbd]))!;
      const c = Number(row[cpu]);
      assert.ok(c >= 0 && c <= 1, `vCPU fraction ${c}`);
      assert.ok(Number(row[vbd]) >= 0);
      break;
    }
    assert.ok(Date.now() - started < 40_000, `no VM figures after 40 s: ${last.slice(0, 1500)}`);
  }
  t.diagnostic(`VM figures after ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const ds = (await client.stats.stats_data_sources('vm', VM))!;
  assert.ok(ds.some((d) => d.name === 'cpu0' && d.enabled && d.standard));
  await client.call('instance_shutdown', [VM, false, 10_000]);
});
