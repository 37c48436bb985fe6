// Child process of bench/storage-resources-e2e.ts: one XenAPI client long-polling
// event.from(["message"], token, 30) over JSON-RPC/HTTP, as a monitoring client would. For every
// storage-alert message event it sends the parent its name, body and the moment the reply was
// parsed (process.hrtime.bigint(): CLOCK_MONOTONIC, comparable with the parent's readings).
import { jcall, makeAgent } from './rpc-client.js';

const [portArg, session] = process.argv.slice(2);
const port = Number(portArg);
const agent = makeAgent(4);

let token: string = (await jcall(agent, port, 'event.from', [session, ['message'], '', 0.0])).token;
process.send!('ready');
for (;;) {
  const r = await jcall(agent, port, 'event.from', [session, ['message'], token, 30.0]);
  const at = process.hrtime.bigint();
  for (const e of r.events as { operation: string; snapshot?: { name?: string; body?: string } }[]) {
    const name = e.snapshot?.name ?? '';
    if (e.operation === 'add' && name.startsWith('STORAGE_RESOURCE_ALERT'))
      process.send!({ name, body: e.snapshot?.body ?? '', at: String(at) });
  }
  token = r.token;
}
