// Markup in map keys/values, read back by real clients, unchanged: Xen Orchestra's xen-api npm
// package (JSON-RPC and XML-RPC; direct calls and its event-fed object cache) and Debian's
// python3-os-xenapi XenAPI.py (XML-RPC). Values go in as VM.other_config entries of dom0 and come
// back through get_other_config, get_record, get_all_records and event.from, so every reply path
// that builds XML or JSON (records, maps, the record cache) is covered.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { createClient, type Xapi } from 'xen-api';
import { startManager } from '../helpers/manager.js';
import { NASTY } from '../shared/wire/nasty-strings.js';

const run = promisify(execFile);

/** Keys and values: each nasty string as a value, and (non-empty) as a key too. */
const ENTRIES: [string, string][] = [
  ...NASTY.map((s, i): [string, string] => [`berth-esc-${i}`, s]),
  ...NASTY.filter((s) => s !== '').map((s, i): [string, string] => [`k${i}${s}`, `v${i}`]),
];

async function connect(url: string, password: string, transport: string): Promise<Xapi> {
  const xapi = createClient({
    url,
    auth: { user: 'root', password },
    allowUnauthorized: true,
    transport,
    watchEvents: ['pool', 'VM'],
    debounce: 10,
  });
  await xapi.connect();
  await xapi.objectsFetched;
  return xapi;
}

const pick = (o: Record<string, string>) =>
  Object.fromEntries(ENTRIES.map(([k]) => [k, o[k]]).filter(([, v]) => v !== undefined));

for (const transport of ['json-rpc', 'xml-rpc']) {
  test(`xen-api (${transport}) reads back other_config keys and values with < & > and quotes`, {
    timeout: 60_000,
  }, async (t) => {
    const m = await startManager(t, { https: true });
    const xapi = await connect(m.httpsUrl, m.rootPassword, transport);
    t.after(() => xapi.disconnect());
    const dom0 = Object.values(xapi.objects.all).find((o: any) => o.$type === 'VM' && o.is_control_domain);
    assert.ok(dom0);
    const ref = dom0.$ref;
    for (const [k, v] of ENTRIES) await xapi.call('VM.add_to_other_config', ref, k, v);
    const want = Object.fromEntries(ENTRIES);

    assert.deepEqual(pick(await xapi.call('VM.get_other_config', ref)), want, 'get_other_config');
    assert.deepEqual(pick((await xapi.call('VM.get_record', ref)).other_config), want, 'get_record');
    const all = await xapi.call('VM.get_all_records');
    assert.deepEqual(pick(all[ref].other_config), want, 'get_all_records');
    // the client's object cache is fed by event.from
    await xapi.barrier();
    assert.deepEqual(pick((xapi as any).getObjectByRef(ref).other_config), want, 'event.from');
    // a name with markup, through a plain string getter
    await xapi.call('VM.set_name_description', ref, NASTY[6]);
    assert.equal(await xapi.call('VM.get_name_description', ref), NASTY[6]);

    if (transport === 'json-rpc') {
      // Controls XML 1.0 cannot carry are refused on the way in, as xapi's UTF8_XML check does.
      await assert.rejects(xapi.call('VM.add_to_other_config', ref, 'ctl', 'a\u0001b'), (e: any) => {
        assert.equal(e.code, 'INVALID_VALUE');
        assert.equal(e.params[0], 'Invalid UTF-8 string in parameter');
        return true;
      });
      assert.equal((await xapi.call('VM.get_other_config', ref)).ctl, undefined);
    }
  });
}

test('Debian XenAPI.py reads back other_config keys and values with < & > and quotes', {
  timeout: 60_000,
}, async (t) => {
  const m = await startManager(t);
  const code = [
    'import json, sys',
    'from os_xenapi.client import XenAPI',
    'entries = json.load(sys.stdin)',
    's = XenAPI.Session(sys.argv[1])',
    's.xenapi.login_with_password("root", sys.argv[2], "2.21", "berth-escaping-test")',
    'x = s.xenapi',
    'out = {}',
    'try:',
    '    dom0 = [r for r, v in x.VM.get_all_records().items() if v["is_control_domain"]][0]',
    '    for k, v in entries: x.VM.add_to_other_config(dom0, k, v)',
    '    keys = [k for k, _ in entries]',
    '    pick = lambda d: {k: d[k] for k in keys if k in d}',
    '    out["get_other_config"] = pick(x.VM.get_other_config(dom0))',
    '    out["get_record"] = pick(x.VM.get_record(dom0)["other_config"])',
    '    out["get_all_records"] = pick(x.VM.get_all_records()[dom0]["other_config"])',
    '    try:',
    '        x.VM.add_to_other_config(dom0, "ctl", "a\\x01b")',
    '        out["control"] = "accepted"',
    '    except XenAPI.Failure as f:',
    '        out["control"] = f.details',
    '    except Exception as e:',
    '        out["control"] = type(e).__name__',
    '    out["control_stored"] = x.VM.get_other_config(dom0).get("ctl")',
    'finally:',
    '    x.session.logout()',
    'print(json.dumps(out))',
  ].join('\n');
  const child = run('/usr/bin/python3', ['-c', code, `${m.httpUrl}/`, m.rootPassword], { timeout: 50_000 });
  child.child.stdin?.end(JSON.stringify(ENTRIES));
  const out = JSON.parse((await child).stdout);
  const want = Object.fromEntries(ENTRIES);
  assert.deepEqual(out.get_other_config, want);
  assert.deepEqual(out.get_record, want);
  assert.deepEqual(out.get_all_records, want);
  // xmlrpc.client writes U+0001 raw into the XML document; that is not well-formed XML 1.0, so
  // the request is refused before any method runs and nothing is stored (docs/testing.md).
  t.diagnostic(`XML-RPC request with U+0001: ${JSON.stringify(out.control)}`);
  assert.notEqual(out.control, 'accepted');
  assert.equal(out.control_stored, null);
});
