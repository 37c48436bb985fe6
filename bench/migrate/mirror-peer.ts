// Mirror micro-benchmark (mirror-speed slice): Berth's mirror steps (mirror.ts) between two bare
// QEMUs (-machine none, no guest), a 4 GiB qcow2 with 1 GiB written, over a Unix socket and over
// TCP+TLS with pool certificates; then qemu-img compare. Isolates the block copy from the VM, the
// manager and the guest. Usage: tsx bench/migrate/mirror-peer.ts [unix|tls]... (default both);
// MIRROR_PEER_DST_OPTS=<qemu-img create -o options> sets the target image's (e.g. cluster_size=2M).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import {
  cancelMirrors,
  finishMirrors,
  serveMirrorTargets,
  startMirrors,
  stopMirrorTargets,
  waitMirrorsReady,
} from '../../src/agent/migration/mirror.js';
import {
  bareQemus,
  image,
  qemuTlsDirs,
  quit,
  sameContent,
  sh,
} from '../../test/agent/migration/mirror-qemu.js';

const GiB = 1024 ** 3;

async function one(transport: 'unix' | 'tls'): Promise<string> {
  const afters: (() => unknown)[] = [];
  const t = { after: (f: () => unknown) => afters.push(f) } as unknown as TestContext;
  const start = bareQemus(t);
  const dir = mkdtempSync(join(tmpdir(), 'mirror-speed-'));
  try {
    const srcImg = image(join(dir, 'src.qcow2'), '4G', [[0x5a, 0, GiB]]);
    const dstImg = join(dir, 'dst.qcow2');
    const dstOpts = process.env.MIRROR_PEER_DST_OPTS;
    sh('qemu-img', 'create', '-q', '-f', 'qcow2', ...(dstOpts ? ['-o', dstOpts] : []), dstImg, '4G');
    const src = await start(join(dir, 's'), { xvdb: srcImg });
    const dst = await start(join(dir, 'd'), { xvdb: dstImg }, true);
    let nbd: Awaited<ReturnType<typeof serveMirrorTargets>>;
    let client = {};
    if (transport === 'tls') {
      const tls = await qemuTlsDirs(join(dir, 'pki'));
      const obj = (id: string, d: string, endpoint: string) => ({
        'qom-type': 'tls-creds-x509',
        id,
        dir: d,
        endpoint,
        'verify-peer': true,
      });
      await dst.qmp.command('object-add', obj('tls0', tls.server, 'server'));
      await src.qmp.command('object-add', obj('tls0', tls.client, 'client'));
      nbd = await serveMirrorTargets(dst.qmp, [{ device: 'xvdb' }] as never, {
        transport: 'tls',
        address: '127.0.0.1',
        tlsCredsId: 'tls0',
      });
      client = { tlsCredsId: 'tls0', tlsHostname: '127.0.0.1' };
    } else {
      nbd = await serveMirrorTargets(dst.qmp, [{ device: 'xvdb' }] as never, {
        transport: 'unix',
        socket: join(dir, 'nbd.sock'),
        fdpass: dst.fdpass,
      });
      client = { fdpass: src.fdpass };
    }
    const t0 = performance.now();
    await startMirrors(src.qmp, nbd, ['xvdb'], client);
    const p = await waitMirrorsReady(src.qmp, ['xvdb'], { pollMs: 20 });
    const ms = performance.now() - t0;
    await cancelMirrors(src.qmp);
    await finishMirrors(src.qmp, ['xvdb']);
    await stopMirrorTargets(dst.qmp);
    await quit(src);
    await quit(dst);
    const same = sameContent(srcImg, dstImg);
    return `${transport}: ready after ${Math.round(ms)} ms, ${p.total} bytes, equal=${same}`;
  } finally {
    for (const f of afters) await f();
    rmSync(dir, { recursive: true, force: true });
  }
}

const which = process.argv.slice(2).filter((a) => a === 'unix' || a === 'tls') as ('unix' | 'tls')[];
for (const tr of which.length ? which : (['unix', 'tls'] as const)) console.log(await one(tr));
