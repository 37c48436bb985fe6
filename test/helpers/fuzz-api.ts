// Mutation fuzzing of the manager's RPC endpoints: valid XML-RPC and JSON-RPC requests are
// mutated (bytes flipped, cut, duplicated, type tags swapped, deep nesting, entity tricks,
// invalid UTF-8) and sent; every answer must be an HTTP status (a XenAPI error in-band, or a
// 4xx/500), never a dropped connection, and the server must keep answering valid calls.
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';

export interface FuzzReport {
  sent: number;
  statuses: Record<string, number>;
  failures: string[];
}

/** A small deterministic PRNG (mulberry32), so a failing seed can be replayed. */
export function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const XML_SNIPPETS = [
  '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>',
  '<!DOCTYPE x SYSTEM "file:///etc/passwd">',
  '&xxe;',
  '&#0;',
  '&#x110000;',
  '<value><int>99999999999999999999999</int></value>',
  '<value><boolean>yes</boolean></value>',
  '<value><double>NaN</double></value>',
  '<value><struct><member><name>a</name></member></struct></value>',
  '<value><array><data><value>',
  '</params>',
  '<![CDATA[x]]>',
  '<?pi x?>',
  '\u0000',
  '<value><dateTime.iso8601>not-a-date</dateTime.iso8601></value>',
  `${'<value><array><data>'.repeat(200)}`,
];

const JSON_SNIPPETS = [
  'null',
  '[]',
  '{}',
  '"\\ud800"',
  '1e999',
  '-0',
  '{"__proto__":{"x":1}}',
  '[[[[[[[[[[[[[[[[[[[[[[[[[',
  'true',
  '"OpaqueRef:NULL"',
];

export function mutate(seed: string, rnd: () => number, xml: boolean): Buffer {
  let s = seed;
  const ops = 1 + Math.floor(rnd() * 3);
  for (let i = 0; i < ops; i++) {
    const pos = Math.floor(rnd() * (s.length + 1));
    switch (Math.floor(rnd() * 7)) {
      case 0: // delete a range
        s = s.slice(0, pos) + s.slice(pos + Math.floor(rnd() * 20));
        break;
      case 1: // insert a hostile snippet
        {
          const pool = xml ? XML_SNIPPETS : JSON_SNIPPETS;
          s = s.slice(0, pos) + pool[Math.floor(rnd() * pool.length)] + s.slice(pos);
        }
        break;
      case 2: // duplicate a range
        {
          const len = Math.floor(rnd() * 40);
          s = s.slice(0, pos) + s.slice(pos, pos + len) + s.slice(pos);
        }
        break;
      case 3: // swap a tag or a JSON token
        s = xml
          ? s.replace(
              /<(string|int|boolean|double|array|struct|value)>/,
              `<${['i4', 'base64', 'nil/', 'string', 'struct'][Math.floor(rnd() * 5)]}>`,
            )
          : s.replace(/"[^"]*"/, ['1', 'true', '[]', '{}', 'null', '"x"'][Math.floor(rnd() * 6)]);
        break;
      case 4: // truncate
        s = s.slice(0, pos);
        break;
      case 5: // flip a character
        if (s.length) s = s.slice(0, pos) + String.fromCharCode(Math.floor(rnd() * 128)) + s.slice(pos + 1);
        break;
      default: // nothing: keep some valid requests in the mix
        break;
    }
  }
  const buf = Buffer.from(s, 'utf8');
  if (rnd() < 0.1 && buf.length) buf[Math.floor(rnd() * buf.length)] = 0xff; // invalid UTF-8
  return buf;
}

/** Calls that would end the fuzz session or park a request for a minute are left out. */
const SKIP = /session\.logout|session\.login|event[._](from|next)/;

/**
 * The requests real clients sent (test/fuzz/corpus, captured by tools/fuzz-capture.ts), with every
 * ref of the capture run replaced by the live session: the first parameter authenticates, other
 * refs are of the wrong class (HANDLE_INVALID), as a fuzzer would make them anyway.
 */
function corpusSeeds(target: 'xmlrpc' | 'jsonrpc', session: string): string[] {
  const dir = join(import.meta.dirname, '../fuzz/corpus', target);
  return readdirSync(dir)
    .sort()
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .filter((body) => !SKIP.test(body))
    .map((body) => body.replace(/OpaqueRef:[0-9a-f-]{36}/g, session));
}

function send(port: number, path: string, body: Buffer, type: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        headers: { 'Content-Type': type, 'Content-Length': body.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

export async function fuzzApi(
  port: number,
  session: string,
  iterations: number,
  seed: number,
): Promise<FuzzReport> {
  const rnd = prng(seed);
  const xmlSeeds = [
    `<?xml version="1.0"?><methodCall><methodName>VM.get_all_records</methodName><params><param><value>${session}</value></param></params></methodCall>`,
    `<?xml version="1.0"?><methodCall><methodName>session.login_with_password</methodName><params><param><value><string>root</string></value></param><param><value>x</value></param></params></methodCall>`,
    `<?xml version="1.0"?><methodCall><methodName>event.from</methodName><params><param><value>${session}</value></param><param><value><array><data><value>vm</value></data></array></value></param><param><value></value></param><param><value><double>0.01</double></value></param></params></methodCall>`,
    `<?xml version="1.0"?><methodCall><methodName>pool.add_to_other_config</methodName><params><param><value>${session}</value></param><param><value>OpaqueRef:x</value></param><param><value>k</value></param><param><value>v</value></param></params></methodCall>`,
    `<?xml version="1.0"?><methodCall><methodName>VM.create</methodName><params><param><value>${session}</value></param><param><value><struct><member><name>name_label</name><value>f</value></member><member><name>VCPUs_max</name><value><int>1</int></value></member></struct></value></param></params></methodCall>`,
  ];
  const jsonSeeds = [
    JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'VM.get_all', params: [session] }),
    JSON.stringify({ id: 'a', method: 'host.get_record', params: [session, 'OpaqueRef:nope'] }),
    JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'event.from', params: [session, ['*'], '', 0.01] }),
    JSON.stringify({
      jsonrpc: '2.0',
      id: 3,
      method: 'task.set_progress',
      params: [session, 'OpaqueRef:x', 0.5],
    }),
  ];
  xmlSeeds.push(...corpusSeeds('xmlrpc', session));
  jsonSeeds.push(...corpusSeeds('jsonrpc', session));
  const report: FuzzReport = { sent: 0, statuses: {}, failures: [] };
  for (let i = 0; i < iterations; i++) {
    const xml = rnd() < 0.55;
    const seeds = xml ? xmlSeeds : jsonSeeds;
    const body = mutate(seeds[Math.floor(rnd() * seeds.length)], rnd, xml);
    const path = xml ? (rnd() < 0.5 ? '/' : '/RPC2') : '/jsonrpc';
    try {
      const status = await send(port, path, body, xml ? 'text/xml' : 'application/json');
      report.statuses[status] = (report.statuses[status] ?? 0) + 1;
      if (status !== 200 && !(status >= 400 && status < 600))
        report.failures.push(`seed ${seed} #${i}: status ${status}`);
    } catch (e) {
      report.failures.push(
        `seed ${seed} #${i}: ${(e as Error).message}: ${body.toString('latin1').slice(0, 200)}`,
      );
    }
    report.sent++;
  }
  return report;
}
