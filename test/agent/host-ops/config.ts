// A host operations config in a test's temp dir (every path and command inside it).
import { join } from 'node:path';
import {
  type HostOpsConfig,
  type HostOpsOptions,
  hostOpsConfig,
} from '../../../src/agent/host-ops/options.js';

export function testConfig(dir: string, opts: HostOpsOptions = {}, instances: string[] = []): HostOpsConfig {
  return hostOpsConfig(
    {
      restrictedCommandsDir: join(dir, 'restricted'),
      restrictedCommandFailDelaySec: 0.05,
      hostsFile: join(dir, 'hosts'),
      x509Dir: join(dir, 'crypto'),
      fileInfoRoots: [join(dir, 'files')],
      ...opts,
    },
    { stateRoot: join(dir, 'state'), runRoot: join(dir, 'run'), srRoot: join(dir, 'sr') },
    () => instances,
  );
}

/** The XenAPI error code and params of a rejection. */
export function errorOf(e: unknown): string[] {
  const x = e as { code?: string; params?: string[] };
  return [x.code ?? String(e), ...(x.params ?? [])];
}

/** Polls `f` every 20 ms until it answers, failing after `ms`. */
export async function until<T>(f: () => Promise<T | undefined>, what: string, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
