// npm run bench:host-records — host.get_all_records on one manager with 1 host record, then with
// 16 (a pool's master), over JSON-RPC on loopback HTTP: the cost of the pool's larger answer at
// the manager itself, without bench:pool's relay between namespaces (which adds per byte).
// Medians of BENCH_CALLS calls (default 400) after 200 warm-up calls.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/manager/config.js';
import { Manager } from '../src/manager/manager.js';
import { addTestHost } from '../test/helpers/pool-host.js';

const CALLS = Number(process.env.BENCH_CALLS ?? 400);

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-hosts-'));
  const config = parseConfig(
    ['--data-dir', dir, '--http-port', '0', '--listen', '127.0.0.1', '--https-port', 'off'],
    { BERTH_XAPI_SOCKET: join(dir, 'xapi.sock') },
  );
  const m = await Manager.open(config, { agent: false, networking: false, timers: false });
  try {
    const { httpPort } = await m.listen();
    const url = `http://127.0.0.1:${httpPort}/jsonrpc`;
    const post = async (method: string, params: unknown[]) => {
      const r = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', method, params, id: 1 }),
      });
      return ((await r.json()) as { result: unknown }).result;
    };
    const password = readFileSync(join(dir, 'root-password'), 'utf8').trim();
    const s = await post('session.login_with_password', ['root', password]);
    const median = async (n: number) => {
      const xs: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await post('host.get_all_records', [s]);
        xs.push(performance.now() - t0);
      }
      return xs.sort((a, b) => a - b)[Math.floor(n / 2)];
    };
    const size = async () => JSON.stringify(await post('host.get_all_records', [s])).length;
    await median(200);
    const one = await median(CALLS);
    const oneBytes = await size();
    for (let i = 2; i <= 16; i++) addTestHost(m.svc.db, `bench-host-${i}`, { address: `192.0.2.${i}` });
    await median(200);
    const sixteen = await median(CALLS);
    const sixteenBytes = await size();
    console.log(`host.get_all_records, ${CALLS} calls, median (ms):`);
    console.log(`  1 host   ${one.toFixed(3)}  (${oneBytes} bytes)`);
    console.log(
      `  16 hosts ${sixteen.toFixed(3)}  (${sixteenBytes} bytes)  ratio ${(sixteen / one).toFixed(2)}x`,
    );
  } finally {
    await m.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
