// Network namespaces for tests: every kernel object a networking test creates lives in one of
// these and goes away with it (deleting a namespace deletes its bridges, TAPs, veths).
import { randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import { run, runChecked } from '../../../src/shared/exec.js';

export async function netns(t: TestContext, tag = 'n'): Promise<string> {
  const name = `berth-t-${tag}-${randomBytes(3).toString('hex')}`;
  await runChecked('ip', ['netns', 'add', name]);
  t.after(async () => {
    await run('ip', ['netns', 'del', name]);
  });
  await runChecked('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

export const ipIn = (ns: string, ...args: string[]) => runChecked('ip', ['-n', ns, ...args]);
export const execIn = (ns: string, cmd: string, ...args: string[]) =>
  run('ip', ['netns', 'exec', ns, cmd, ...args]);

/** A veth pair with `inner` moved into namespace `peerNs` (a stand-in guest or switch port). */
export async function vethInto(ns: string, outer: string, peerNs: string, inner: string) {
  await ipIn(ns, 'link', 'add', outer, 'type', 'veth', 'peer', 'name', inner);
  await ipIn(ns, 'link', 'set', inner, 'netns', peerNs);
  await ipIn(ns, 'link', 'set', outer, 'up');
  await ipIn(peerNs, 'link', 'set', inner, 'up');
}

export async function ping(ns: string, addr: string, count = 2): Promise<boolean> {
  const r = await execIn(ns, 'busybox', 'ping', '-c', String(count), '-W', '1', addr);
  return r.code === 0;
}

/** Can this kernel create links of `kind` (vlan, bond…)? Probed in a throwaway namespace. */
export async function kernelSupports(t: TestContext, kind: 'vlan' | 'bond'): Promise<boolean> {
  const ns = await netns(t, 'probe');
  if (kind === 'vlan') {
    await ipIn(ns, 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1');
    return (
      (await run('ip', ['-n', ns, 'link', 'add', 'link', 'p0', 'name', 'p0.5', 'type', 'vlan', 'id', '5']))
        .code === 0
    );
  }
  return (await run('ip', ['-n', ns, 'link', 'add', 'b0', 'type', 'bond'])).code === 0;
}
