// The real Prometheus server (Debian's /usr/bin/prometheus) for end-to-end tests: scrapes one
// Berth manager's /metrics every second, on a free loopback port with its own temp storage, and
// answers instant queries through its HTTP API. Killed when the test ends (hook registered
// before its temp dir, so it is gone before the directory is removed).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { tempDir } from './tmp.js';

export const PROMETHEUS = '/usr/bin/prometheus';
export const havePrometheus = () => existsSync(PROMETHEUS);

export type ScrapeAuth = { bearer: string } | { basic: { user: string; password: string } };

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusServer {
  url: string;
  /** An instant query (`/api/v1/query`): the vector's samples. */
  query(q: string): Promise<PromSample[]>;
  /** stderr so far (for failure messages). */
  log(): string;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function yamlString(s: string): string {
  return JSON.stringify(s); // a JSON string is a valid YAML double-quoted scalar
}

function scrapeConfig(target: string, dir: string, auth: ScrapeAuth): string {
  const lines = [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    'scrape_configs:',
    '  - job_name: berth',
    '    metrics_path: /metrics',
  ];
  if ('bearer' in auth) {
    const file = join(dir, 'token');
    writeFileSync(file, auth.bearer, { mode: 0o600 });
    lines.push('    authorization:', '      type: Bearer', `      credentials_file: ${yamlString(file)}`);
  } else {
    const file = join(dir, 'password');
    writeFileSync(file, auth.basic.password, { mode: 0o600 });
    lines.push(
      '    basic_auth:',
      `      username: ${yamlString(auth.basic.user)}`,
      `      password_file: ${yamlString(file)}`,
    );
  }
  lines.push('    static_configs:', `      - targets: [${yamlString(target)}]`);
  return `${lines.join('\n')}\n`;
}

/** Starts Prometheus scraping `target` (`127.0.0.1:<port>`) and waits until its API answers. */
export async function startPrometheus(
  t: TestContext,
  target: string,
  auth: ScrapeAuth,
): Promise<PrometheusServer> {
  let proc: ChildProcess | undefined;
  t.after(async () => {
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc!.once('exit', r));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc!.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  });
  const dir = tempDir(t, 'berth-prometheus-');
  const config = join(dir, 'prometheus.yml');
  writeFileSync(config, scrapeConfig(target, dir, auth));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let stderr = '';
  proc = spawn(
    PROMETHEUS,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  proc.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-20_000);
  });
  const killOnExit = () => proc?.kill('SIGKILL');
  process.once('exit', killOnExit);
  proc.once('exit', () => process.off('exit', killOnExit));
  const server: PrometheusServer = {
    url,
    log: () => stderr,
    async query(q) {
      const r = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = (await r.json()) as {
        status: string;
        data?: { resultType: string; result: PromSample[] };
        error?: string;
      };
      if (body.status !== 'success' || !body.data) throw new Error(`query ${q}: ${body.error ?? r.status}`);
      return body.data.result;
    },
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`prometheus exited (${proc.exitCode}): ${stderr}`);
    try {
      if ((await fetch(`${url}/-/ready`)).ok) return server;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`prometheus not ready within 30 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Polls `fn` until it returns something other than undefined (or throws after `ms`). */
export async function eventually<T>(fn: () => Promise<T | undefined>, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** `promtool check metrics` over an exposition text: its exit status and what it printed. */
export function promtoolCheck(text: string): { status: number | null; output: string } {
  const r = spawnSync('/usr/bin/promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}${r.error ? String(r.error) : ''}` };
}
