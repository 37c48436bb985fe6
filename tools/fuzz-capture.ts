// Captures the fuzz corpus from real clients: runs the agent and a manager, puts recording proxies
// in front of both (TCP for the API, Unix socket between manager and agent), drives Xen
// Orchestra's xen-api (JSON-RPC and XML-RPC), Debian's XenAPI.py and Berth's xe through them,
// and writes what crossed the wire to test/fuzz/corpus/<target>/. Run as root:
//   node --import tsx tools/fuzz-capture.ts          (BERTH_TEST_GUEST_DIR: a guest to boot)
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createClient } from 'xen-api';
import { localManagerArgs } from '../test/helpers/manager-args.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const OUT = join(ROOT, 'test/fuzz/corpus');
const dir = mkdtempSync(join(tmpdir(), 'berth-fuzz-capture-'));
const guestDir = process.env.BERTH_TEST_GUEST_DIR ?? join(ROOT, '.cache/guest');

interface Conn {
  c2s: Buffer[];
  s2c: Buffer[];
}

/** A proxy that records both directions of every connection. */
function recorder(
  listen: net.ListenOptions,
  connectTo: net.NetConnectOpts,
): Promise<{ conns: Conn[]; server: net.Server }> {
  const conns: Conn[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (client) => {
    const rec: Conn = { c2s: [], s2c: [] };
    conns.push(rec);
    const upstream = net.connect({ ...connectTo, allowHalfOpen: true });
    client.on('data', (d) => {
      rec.c2s.push(Buffer.from(d));
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      rec.s2c.push(Buffer.from(d));
      client.write(d);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  return new Promise((resolve) => server.listen(listen, () => resolve({ conns, server })));
}

interface HttpMessage {
  start: string;
  headers: Record<string, string>;
  body: Buffer;
  /** Bytes after the message when the connection changed protocol (/cli). */
  rest?: Buffer;
}

function dechunk(b: Buffer, from: number): { body: Buffer; end: number } {
  const parts: Buffer[] = [];
  let off = from;
  for (;;) {
    const nl = b.indexOf('\r\n', off);
    if (nl < 0) return { body: Buffer.concat(parts), end: b.length };
    const n = Number.parseInt(b.toString('latin1', off, nl), 16);
    off = nl + 2;
    if (!n) return { body: Buffer.concat(parts), end: off + 2 };
    parts.push(b.subarray(off, off + n));
    off += n + 2;
  }
}

/** Splits one direction of an HTTP/1.x connection into messages. */
function httpMessages(b: Buffer, isRequest: boolean): HttpMessage[] {
  const out: HttpMessage[] = [];
  let off = 0;
  while (off < b.length) {
    const end = b.indexOf('\r\n\r\n', off);
    if (end < 0) break;
    const [start, ...lines] = b.toString('latin1', off, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines)
      headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim();
    let bodyEnd: number;
    let body: Buffer;
    if (headers['transfer-encoding'] === 'chunked') {
      const d = dechunk(b, end + 4);
      body = d.body;
      bodyEnd = d.end;
    } else {
      const len = Number(headers['content-length'] ?? (isRequest ? 0 : b.length - end - 4));
      body = b.subarray(end + 4, end + 4 + len);
      bodyEnd = end + 4 + len;
    }
    const msg: HttpMessage = { start, headers, body };
    out.push(msg);
    off = bodyEnd;
    if (isRequest && start.startsWith('POST /cli')) {
      msg.rest = b.subarray(off);
      break;
    }
  }
  return out;
}

const files: Record<string, number> = {};
/** The throwaway root password of the capture run, replaced in what is written. */
let secret = '';
function save(target: string, name: string, data: Buffer | string) {
  mkdirSync(join(OUT, target), { recursive: true });
  files[target] = (files[target] ?? 0) + 1;
  let b = Buffer.from(data);
  for (let i = secret ? b.indexOf(secret) : -1; i >= 0; i = b.indexOf(secret)) {
    b = Buffer.concat([b.subarray(0, i), Buffer.from('fuzz-password'), b.subarray(i + secret.length)]);
  }
  writeFileSync(join(OUT, target, name), b);
}

const waitFor = async (pred: () => boolean, ms: number, what: string) => {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

const procs: ChildProcess[] = [];
const node = (script: string, args: string[]) => {
  const p = spawn(process.execPath, ['--import', 'tsx', join(ROOT, script), ...args], {
    stdio: ['ignore', 'ignore', process.env.VERBOSE ? 'inherit' : 'ignore'],
    env: { ...process.env, BERTH_ACCEL: 'tcg', BERTH_NETWORKING: '0' },
  });
  procs.push(p);
  return p;
};

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function main() {
  const agentSock = join(dir, 'agent.sock');
  const agentProxySock = join(dir, 'agent-proxy.sock');
  node('src/agent/main.ts', [
    '--socket',
    agentSock,
    '--run-dir',
    join(dir, 'run'),
    '--log-dir',
    join(dir, 'log'),
    '--state-root',
    dir,
    '--sr-root',
    join(dir, 'data', 'sr'), // the manager's SRs
  ]);
  await waitFor(() => existsSync(agentSock), 30_000, 'agent socket');
  const agentRec = await recorder({ path: agentProxySock }, { path: agentSock });
  const port = await freePort();
  node(
    'src/manager/main.ts',
    localManagerArgs({
      dataDir: join(dir, 'data'),
      port,
      socket: join(dir, 'xapi.sock'),
      agentSocket: agentProxySock,
      guestDir,
      fastAuthFailures: true,
    }),
  );
  await waitFor(() => existsSync(join(dir, 'xapi.sock')), 60_000, 'manager');
  await new Promise((r) => setTimeout(r, 1000));
  const apiRec = await recorder({ port: 0, host: '127.0.0.1' }, { port, host: '127.0.0.1' });
  const proxyPort = (apiRec.server.address() as net.AddressInfo).port;
  const url = `http://127.0.0.1:${proxyPort}`;
  const password = readFileSync(join(dir, 'data', 'root-password'), 'utf8').trim();
  secret = password;
  const marks: { client: string; from: number }[] = [];
  const mark = (client: string) => marks.push({ client, from: apiRec.conns.length });

  // 1. Xen Orchestra's xen-api, both transports.
  for (const transport of ['json-rpc', 'xml-rpc']) {
    mark(`xen-api-${transport}`);
    const xapi = createClient({
      url,
      auth: { user: 'root', password },
      transport,
      watchEvents: ['pool', 'host', 'VM', 'task'],
      debounce: 10,
    });
    await xapi.connect();
    await xapi.objectsFetched;
    const pool = Object.values(xapi.objects.all).find((o: any) => o.$type === 'pool') as any;
    await xapi.call('pool.set_name_label', pool.$ref, `renamed <&> ${transport}`);
    await xapi.call('pool.add_to_other_config', pool.$ref, `fuzz-${transport}`, 'v"\u00e9');
    await xapi.barrier();
    await xapi.callAsync('pool.get_license_state', pool.$ref);
    await xapi.call('VM.get_record', 'OpaqueRef:nope').catch(() => undefined);
    const vm = (await xapi.call('VM.create', {
      name_label: 'fuzz',
      name_description: 'from xen-api',
      user_version: 1,
      is_a_template: false,
      affinity: 'OpaqueRef:NULL',
      memory_target: 268435456,
      memory_static_max: 268435456,
      memory_dynamic_max: 268435456,
      memory_dynamic_min: 268435456,
      memory_static_min: 134217728,
      VCPUs_params: {},
      VCPUs_max: 1,
      VCPUs_at_startup: 1,
      actions_after_shutdown: 'destroy',
      actions_after_reboot: 'restart',
      actions_after_crash: 'restart',
      PV_bootloader: '',
      PV_kernel: '',
      PV_ramdisk: '',
      PV_args: '',
      PV_bootloader_args: '',
      PV_legacy_args: '',
      HVM_boot_policy: 'BIOS order',
      HVM_boot_params: { order: 'cd' },
      platform: {},
      PCI_bus: '',
      other_config: { a: 'b' },
      recommendations: '',
    })) as string;
    await xapi.call('VM.set_VCPUs_max', vm, 2).catch(() => undefined);
    await xapi
      .call('VM.set_memory_limits', vm, 134217728, 268435456, 268435456, 268435456)
      .catch(() => undefined);
    await xapi.call('VM.get_all_records_where', 'field "is_a_template" = "false"');
    await xapi.call('VM.destroy', vm);
    await xapi.disconnect();
  }

  // 2. Debian's XenAPI.py (python3-os-xenapi), unchanged.
  mark('xenapi-py');
  await run('/usr/bin/python3', [join(ROOT, 'test/e2e/python/xenapi_client.py'), url, 'root', password], {
    timeout: 60_000,
  }).catch((e) => console.error('XenAPI.py:', e.message));

  // 3. Berth's xe over TCP (the /cli protocol), including a VM started on the real agent.
  mark('xe');
  const xeArgv: string[][] = [];
  const xe = async (...args: string[]) => {
    const argv = [
      '-s',
      '127.0.0.1',
      '-p',
      String(proxyPort),
      '-u',
      'root',
      '-pw',
      password,
      '--nossl',
      ...args,
    ];
    xeArgv.push(argv);
    try {
      const r = await run(
        process.execPath,
        ['--import', 'tsx', join(ROOT, 'src/clients/xe/main.ts'), ...argv],
        { timeout: 120_000 },
      );
      if (process.env.CAPTURE_VERBOSE)
        console.error('xe', args.join(' '), '→', r.stdout.trim().slice(0, 200));
      return r.stdout.trim();
    } catch (e: any) {
      if (process.env.CAPTURE_VERBOSE)
        console.error(
          'xe',
          args.join(' '),
          '→ failed',
          String(e.stdout ?? '')
            .trim()
            .slice(0, 200),
          String(e.stderr ?? '').slice(0, 300),
        );
      return String(e.stdout ?? '').trim();
    }
  };
  await xe('host-list');
  await xe('vm-list', 'params=uuid,name-label,power-state', 'is-control-domain=false');
  await xe(
    'pool-param-set',
    `uuid=${(await xe('pool-list', '--minimal')).split(',')[0]}`,
    'other-config:fuzz=x y',
  );
  await xe('sr-list', 'params=all');
  await xe('template-list', '--minimal');
  await xe('help', 'vm-start');
  await xe('vm-param-get', 'uuid=nope', 'param-name=name-label');
  await xe('no-such-command');
  const sr = (await xe('sr-list', 'type=file', '--minimal')).split(',')[0];
  const vm = await xe('vm-install', 'template=Other install media', 'new-name-label=fuzz-vm');
  if (sr && vm) {
    const vdi = await xe(
      'vdi-create',
      `sr-uuid=${sr}`,
      'name-label=fuzz-disk',
      'virtual-size=64MiB',
      'type=user',
    );
    await xe('vbd-create', `vm-uuid=${vm}`, `vdi-uuid=${vdi}`, 'device=0', 'bootable=true');
    await xe(
      'vm-param-set',
      `uuid=${vm}`,
      'memory-static-max=256MiB',
      'memory-dynamic-max=256MiB',
      'memory-dynamic-min=256MiB',
    );
    await xe(
      'vm-memory-limits-set',
      `uuid=${vm}`,
      'static-min=128MiB',
      'static-max=256MiB',
      'dynamic-min=256MiB',
      'dynamic-max=256MiB',
    );
    if (existsSync(join(guestDir, 'vmlinuz'))) {
      await xe('vm-start', `uuid=${vm}`);
      await xe('vm-list', `uuid=${vm}`, 'params=power-state');
      await xe(
        'host-call-plugin',
        `host-uuid=${(await xe('host-list', '--minimal')).split(',')[0]}`,
        'plugin=echo',
        'fn=main',
        'args:a=b',
      );
      await xe('vm-shutdown', `uuid=${vm}`, '--force');
    }
    await xe('vm-uninstall', `uuid=${vm}`, '--force');
  }
  await xe('vdi-list', 'params=uuid,virtual-size');

  // 4. The console route as xe and browsers reach it (no VNC needed for the request itself).
  mark('console');
  for (const target of [
    `/console?ref=OpaqueRef:nope&session_id=OpaqueRef:bad`,
    `/console?uuid=00000000-0000-0000-0000-000000000000`,
  ]) {
    await new Promise<void>((resolve) => {
      const s = net.connect(proxyPort, '127.0.0.1', () =>
        s.end(`CONNECT ${target} HTTP/1.0\r\nCookie: session_id=OpaqueRef%3Abad; other=1\r\n\r\n`),
      );
      s.on('data', () => undefined);
      s.on('close', () => resolve());
    });
  }

  await new Promise((r) => setTimeout(r, 500));
  for (const p of procs) p.kill('SIGTERM');
  apiRec.server.close();
  agentRec.server.close();

  // ---- write the corpus ----
  const clientOf = (i: number) => [...marks].reverse().find((m) => i >= m.from)?.client ?? 'other';
  const seen = new Set<string>();
  const once = (target: string, key: Buffer | string) => {
    const k = `${target}\0${key.toString()}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  };
  const n: Record<string, number> = {};
  const next = (k: string) => String((n[k] = (n[k] ?? 0) + 1)).padStart(3, '0');
  apiRec.conns.forEach((c, i) => {
    const client = clientOf(i);
    // XML-RPC responses, as the SDK's and tests' response parser reads them.
    for (const r of httpMessages(Buffer.concat(c.s2c), false)) {
      if (r.headers['content-type'] === 'text/xml' && r.body.length && once('xmlrpc-response', r.body))
        save('xmlrpc-response', `${client}-${next(`xr${client}`)}.xml`, r.body);
    }
    for (const m of httpMessages(Buffer.concat(c.c2s), true)) {
      const [method, target] = m.start.split(' ');
      if (once('http-query', `${method} ${target}\n${m.headers.cookie ?? ''}`))
        save(
          'http-query',
          `${client}-${next(`q${client}`)}.txt`,
          `${method} ${target}\n${m.headers.cookie ?? ''}`,
        );
      // Session refs and the root password vary per run: keep them, they are the real shape.
      if (method === 'POST' && target.startsWith('/jsonrpc')) {
        if (once('jsonrpc', m.body)) save('jsonrpc', `${client}-${next(`j${client}`)}.json`, m.body);
      } else if (method === 'POST' && target.startsWith('/cli')) {
        if (once('cli-body', m.body)) save('cli-body', `${client}-${next('cb')}.txt`, m.body);
        // The client's side of the thin CLI protocol, and the server's (commands the xe client parses).
        if (m.rest?.length) save('cli-protocol', `client-${next('cpc')}.bin`, m.rest);
        const fromServer = Buffer.concat(c.s2c);
        if (fromServer.length) save('cli-protocol', `server-${next('cps')}.bin`, fromServer);
      } else if (method === 'POST') {
        if (once('xmlrpc', m.body)) save('xmlrpc', `${client}-${next(`x${client}`)}.xml`, m.body);
      }
    }
  });
  for (const c of agentRec.conns) {
    for (const m of httpMessages(Buffer.concat(c.c2s), true)) {
      const proc = m.start.split(' ')[1].slice(1);
      if (once('agent-request', `${proc}\n${m.body}`))
        save('agent-request', `${proc}-${next(`ar${proc}`)}.txt`, `POST /${proc}\n${m.body}`);
    }
    for (const m of httpMessages(Buffer.concat(c.s2c), false)) {
      if (m.body.length && once('agent-reply', m.body))
        save('agent-reply', `reply-${next('rep')}.json`, m.body);
    }
  }
  for (const argv of xeArgv)
    if (once('xe-argv', JSON.stringify(argv)))
      save('xe-argv', `xe-${next('xa')}.json`, `${JSON.stringify(argv)}\n`);
  console.log(JSON.stringify(files));
}

try {
  await main();
} finally {
  for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
