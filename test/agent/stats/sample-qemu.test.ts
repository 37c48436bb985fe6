// The sampler on a real QEMU (TCG) run by the agent's InstanceManager: the guest burns CPU and
// writes to its disk between two samples, and the figures show it; a QEMU whose monitor does not
// answer (SIGSTOPped) is left out of a sample that still comes back promptly.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { InstanceManager } from '../../../src/agent/instances.js';
import { createSampler } from '../../../src/agent/stats/sample-all.js';
import type { HostSample } from '../../../src/agent/stats/sample.js';
import { srViews } from '../../../src/agent/stats/sample-sr.js';
import { instanceViews } from '../../../src/agent/stats/sample-vm.js';
import { AttachedSrs } from '../../../src/agent/storage/attached.js';
import { tempDir } from '../../helpers/tmp.js';
import { guest, killQemusUnder, logSize, sleep, spec, typeLine, waitForLog } from '../helpers/guest.js';

const UUID = '5a5a5a5a-1616-4616-8616-161616161616';
const SR = 'c0ffee16-0000-4000-8000-000000000016';

const value = (s: HostSample, owner: 'host' | 'vm', name: string): number => {
  const list = owner === 'host' ? s.host : s.vms.get(UUID);
  const v = list?.find((x) => x.spec.name === name)?.value;
  assert.ok(v !== undefined, `${owner} ${name} sampled`);
  return v;
};

test('a busy guest writing to its disk shows in two samples; a stopped QEMU is left out', {
  timeout: 240_000,
}, async (t) => {
  const { kernel, initrd } = guest();
  const runRoot = join(tempDir(t, 'berth-sampler-run-'), 'run');
  t.after(() => killQemusUnder(runRoot));
  const dir = tempDir(t, 'berth-sampler-');
  const disk = join(dir, 'sr', 'disk.qcow2');
  execFileSync('mkdir', ['-p', join(dir, 'sr')]);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '64M']);

  const vms = new InstanceManager({ runRoot, logRoot: join(dir, 'log'), stateRoots: [dir], accel: 'tcg' });
  t.after(() => vms.detachAll());
  const info = await vms.start(
    spec(UUID, {
      kernel,
      initrd,
      cmdline: 'console=ttyS0',
      balloon: true,
      disks: [{ device: 'xvda', path: disk, format: 'qcow2', readonly: false }],
    }),
  );
  const vm = vms.peek(UUID)!;
  const attached = new AttachedSrs();
  attached.add({ uuid: SR, type: 'file', deviceConfig: { location: join(dir, 'sr') } });
  const sampler = createSampler({
    vms: () => instanceViews(vms),
    srs: () => srViews(attached, { allowedRoots: [dir], stateDir: join(dir, 'state') }),
    qmpTimeoutMs: 1000,
  });
  await waitForLog(vm.paths.consoleLog, /BERTH-GUEST-READY/, 120_000);
  const run = async (line: string, re: RegExp) => {
    const from = logSize(vm.paths.consoleLog);
    await typeLine(vm.paths.serial, line);
    return waitForLog(vm.paths.consoleLog, re, 60_000, from);
  };
  await run('echo SHELL-$((40+2))', /SHELL-42/);
  await run('(while :; do :; done) & echo BUSY-STARTED', /BUSY-STARTED/);

  const s1 = await sampler.sample();
  await run('dd if=/dev/zero of=/dev/vda bs=4096 count=2048 && sync && echo DD-$((1+1))-DONE', /DD-2-DONE/);
  await sleep(Math.max(0, 3000 - (Date.now() / 1000 - s1.time) * 1000));
  const s2 = await sampler.sample();
  const dt = s2.time - s1.time;
  assert.ok(dt >= 2 && dt <= 60, `samples ${dt} s apart`);

  // vCPU time rises (the busy loop; TCG on a shared machine: some of a core at least).
  const cpu = (value(s2, 'vm', 'cpu0') - value(s1, 'vm', 'cpu0')) / dt;
  assert.ok(cpu > 0.05 && cpu <= 1.05, `vCPU busy fraction ${cpu}`);
  assert.equal(value(s2, 'vm', 'cpu_usage'), value(s2, 'vm', 'cpu0'), 'one vCPU');
  // 8 MiB written through virtio-blk between the samples.
  const written = value(s2, 'vm', 'vbd_xvda_write') - value(s1, 'vm', 'vbd_xvda_write');
  assert.ok(written >= 8 << 20, `written ${written}`);
  assert.ok(value(s2, 'vm', 'vbd_xvda_iops_write') > 0);
  assert.ok(value(s2, 'vm', 'vbd_xvda_write_latency') > 0);
  assert.equal(value(s2, 'vm', 'memory'), 256 << 20, 'balloon actual');
  assert.equal(value(s2, 'vm', 'memory_target'), 256 << 20);
  // The SR sums the disk's changes; its own RRD has the driver's figures.
  assert.ok(value(s2, 'host', 'write_c0ffee16') >= 8 << 20);
  assert.ok((s2.srs.get(SR)?.find((v) => v.spec.name === 'size')?.value ?? 0) > 0);
  // Host CPU: idle seconds per CPU → busy fraction 1 − Δidle/Δt within 0..1.
  const busy = 1 - (value(s2, 'host', 'cpu_avg') - value(s1, 'host', 'cpu_avg')) / dt;
  assert.ok(busy >= 0 && busy <= 1.05, `host busy ${busy}`);
  assert.ok(value(s2, 'host', 'running_domains') >= 2);
  assert.ok(value(s2, 'host', 'memory_free_kib') <= value(s2, 'host', 'memory_total_kib'));

  // A QEMU that does not answer: left out after the timeout, the sample still comes back.
  process.kill(info.pid!, 'SIGSTOP');
  try {
    const t0 = Date.now();
    const s3 = await sampler.sample();
    assert.ok(Date.now() - t0 < 5000, `sample took ${Date.now() - t0} ms`);
    assert.equal(s3.vms.has(UUID), false);
    assert.ok(s3.host.some((v) => v.spec.name === 'cpu_avg'));
  } finally {
    process.kill(info.pid!, 'SIGCONT');
  }
  const s4 = await sampler.sample();
  assert.equal(s4.vms.has(UUID), true, 'back once QEMU answers again');
  await vms.shutdown(UUID, false, 10_000);
});
