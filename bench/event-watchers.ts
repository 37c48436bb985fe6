// bench:api's event watchers, in their own process (as real watchers are other programs): WATCHERS
// concurrent JSON-RPC event.from long polls on the VM class, each parsing every batch it gets and
// re-polling at once. When a batch holds the target VM with a `round-…` name_label, the watcher
// notes the hrtime when the reply had arrived and been parsed; the process reports the label's
// times to the parent over IPC once all its watchers have it. With `power` (the target's power_state
// when the watchers start; bench:pool), the n-th change of the target's power_state is the label
// `power-<n>` instead.
// Arguments come as one JSON argv: { port, session, token, target, watchers, power? }.
import { jcall, makeAgent, post, jsonBody } from './rpc-client.js';

const { port, session, token, target, watchers, power } = JSON.parse(process.argv[2]) as {
  port: number;
  session: string;
  token: string;
  target: string;
  watchers: number;
  power?: string;
};
const agent = makeAgent(watchers + 4);
let stopping = false;
process.on('message', (m) => {
  if (m === 'stop') {
    stopping = true;
    agent.destroy();
    process.exit(0);
  }
});

/**
 * Arrival times per label, sent to the parent in one message once every watcher of this process
 * has the change (IPC while other watchers still parse would compete with them for the CPU).
 */
const pending = new Map<string, string[]>();
function arrived(label: string, at: bigint) {
  let list = pending.get(label);
  if (!list) pending.set(label, (list = []));
  list.push(String(at));
  if (list.length === watchers) {
    pending.delete(label);
    process.send!({ label, ats: list });
  }
}

async function watch() {
  let tok = token;
  let powerState = power;
  let powerChanges = 0;
  while (!stopping) {
    const reply = await post(
      agent,
      port,
      '/jsonrpc',
      jsonBody('event.from', [session, ['vm'], tok, 30.0]),
      'application/json',
    );
    const r = JSON.parse(reply.body.toString('utf8'));
    if (r.error) throw new Error(`event.from: ${JSON.stringify(r.error)}`);
    const parsedAt = process.hrtime.bigint();
    for (const e of r.result.events) {
      if (power !== undefined) {
        const state = e.snapshot?.power_state;
        if (e.ref === target && typeof state === 'string' && state !== powerState) {
          powerState = state;
          arrived(`power-${++powerChanges}`, parsedAt);
        }
        continue;
      }
      const label = e.snapshot?.name_label;
      if (e.ref === target && typeof label === 'string' && label.startsWith('round-'))
        arrived(label, parsedAt);
    }
    tok = r.result.token;
  }
}

// Warm the connections, then tell the parent every watcher is polling.
await jcall(agent, port, 'pool.get_all', [session]);
for (let i = 0; i < watchers; i++)
  watch().catch((e) => {
    if (!stopping) {
      console.error(e);
      process.exit(1);
    }
  });
process.send!('ready');
