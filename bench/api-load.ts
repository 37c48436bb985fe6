// bench:api's background API load, in its own process: CONNECTIONS keep-alive clients sending a
// fixed-rate mix of what management clients do (records over JSON-RPC and XML-RPC, field reads,
// lookups, and 1 in 50 calls a write to some other VM, which watchers of the VM class receive
// too). Paced to RATE calls/s in total (if the server falls behind, calls go back to back).
// Arguments as one JSON argv: { port, session, vms, avoid, rate, connections }. Prints the calls/s
// achieved on 'stop'.
import { jsonBody, makeAgent, post, xmlBody } from './rpc-client.js';

const { port, session, vms, avoid, rate, connections } = JSON.parse(process.argv[2]) as {
  port: number;
  session: string;
  vms: string[];
  avoid: string;
  rate: number;
  connections: number;
};
const agent = makeAgent(connections + 2);
const pool = vms.filter((v) => v !== avoid);
let n = 0;
let calls = 0;
let stopping = false;
const started = performance.now();
const pick = () => pool[(n * 7919) % pool.length];

/** One call of the mix (50 steps, then again). */
function nextCall(): [string, string, string] {
  const step = n++ % 50;
  const vm = pick();
  if (step === 49)
    return ['/jsonrpc', jsonBody('VM.set_name_description', [session, vm, `load ${n}`]), 'application/json'];
  if (step % 5 === 1) return ['/', xmlBody('VM.get_record', [session, vm]), 'text/xml'];
  if (step % 5 === 2) return ['/jsonrpc', jsonBody('VM.get_power_state', [session, vm]), 'application/json'];
  if (step % 5 === 3) return ['/', xmlBody('VM.get_name_label', [session, vm]), 'text/xml'];
  if (step % 10 === 4) return ['/jsonrpc', jsonBody('host.get_all_records', [session]), 'application/json'];
  return ['/jsonrpc', jsonBody('VM.get_record', [session, vm]), 'application/json'];
}

async function client(c: number) {
  const interval = (1000 * connections) / rate;
  let due = performance.now() + (c * interval) / connections;
  while (!stopping) {
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    due = Math.max(due + interval, performance.now() - interval);
    const [path, body, type] = nextCall();
    await post(agent, port, path, body, type);
    calls++;
  }
}

process.on('message', (m) => {
  if (m !== 'stop') return;
  stopping = true;
  process.send!({ callsPerSecond: (calls / (performance.now() - started)) * 1000 });
  agent.destroy();
  setTimeout(() => process.exit(0), 50);
});
for (let c = 0; c < connections; c++)
  client(c).catch((e) => {
    if (!stopping) {
      console.error(e);
      process.exit(1);
    }
  });
process.send!('ready');
