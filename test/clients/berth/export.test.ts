// `export [field…]` against a real manager: documents per object (XML checked by Python's
// xml.etree, JSON lines, YAML), paths through reference fields, sets, maps and nested records,
// unknown attributes (251). The nouns are minimal ones declared here.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import type { Api, ApiObject } from '../../../src/clients/berth/api.js';
import { CliError } from '../../../src/clients/berth/errors.js';
import { objectXml, valueXml, xmlAttr, xmlText } from '../../../src/clients/berth/export-document.js';
import type { NounSpec, Output, VerbOutcome } from '../../../src/clients/berth/spec.js';
import { exportVerb, fieldOf } from '../../../src/clients/berth/verbs/export.js';
import { captureOutput, connectApi, runVerb } from '../../helpers/berth-verb.js';
import { startManager } from '../../helpers/manager.js';
import { vifRecord } from '../../helpers/records.js';

const vmNoun: NounSpec = {
  name: 'vm',
  xapiClass: 'VM',
  summary: 'test vm noun',
  filter: (r) => r.is_a_template === false && r.is_control_domain === false,
  listColumns: ['name_label', 'uuid'],
  verbs: [exportVerb()],
};
const hostNoun: NounSpec = {
  name: 'host',
  xapiClass: 'host',
  summary: 'test host noun',
  listColumns: ['name_label', 'uuid'],
  verbs: [exportVerb()],
};
const templateNoun: NounSpec = {
  name: 'template',
  xapiClass: 'VM',
  summary: 'test template noun',
  filter: (r) => r.is_a_template === true,
  listColumns: ['name_label', 'uuid'],
  verbs: [exportVerb()],
};
const systemNoun: NounSpec = {
  name: 'system',
  summary: 'test system noun',
  listColumns: [],
  verbs: [exportVerb()],
};

interface XmlNode {
  tag: string;
  attrib: Record<string, string>;
  text: string | null;
  children: XmlNode[];
}

/** Parses XML with Python's xml.etree (an independent parser): the tree as JSON. */
function parseXml(xml: string): XmlNode {
  const script = [
    'import sys, json, xml.etree.ElementTree as ET',
    'def walk(e): return {"tag": e.tag, "attrib": e.attrib, "text": e.text if e.text and e.text.strip() else e.text if not len(e) else None, "children": [walk(c) for c in e]}',
    'print(json.dumps(walk(ET.fromstring(sys.stdin.buffer.read()))))',
  ].join('\n');
  const r = spawnSync('/usr/bin/python3', ['-c', script], { input: xml, encoding: 'utf8' });
  assert.equal(r.status, 0, `python could not parse:\n${xml}\n${r.stderr}`);
  return JSON.parse(r.stdout);
}

const child = (n: XmlNode, tag: string) => n.children.find((c) => c.tag === tag);
const links = (n: XmlNode, rel: string) => n.children.filter((c) => c.tag === 'link' && c.attrib.rel === rel);

async function drain(outcome: VerbOutcome): Promise<string[]> {
  const out: string[] = [];
  for await (const s of outcome as AsyncIterable<string>) out.push(s);
  return out;
}

/** Runs export with `args` and collects what it prints (the -o format given as `format`). */
async function exportOf(
  api: Api,
  noun: NounSpec,
  target: ApiObject | ApiObject[],
  args: string[],
  format?: Output['format'],
): Promise<string[]> {
  if (format === undefined) return drain((await runVerb(api, noun, 'export', target, {}, args)).outcome);
  const verb = noun.verbs[0];
  const out = { ...captureOutput(), format };
  return drain(await verb.run({ api, out, noun, verb, selection: {}, opts: {}, args }, target));
}

async function rejects251(p: Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof CliError, String(e));
    assert.equal(e.message, message);
    assert.equal(e.exitCode, 251);
    return true;
  });
}

test('export against a real manager: objects, paths, formats, errors', async (t) => {
  const tm = await startManager(t);
  const api = await connectApi(tm.httpUrl, tm.rootPassword);
  t.after(() => api.client.logout().catch(() => {}));
  const [host] = await api.allRecords('host');
  const vms = await api.allRecords('VM');
  const dom0 = vms.find((v) => v.record.is_control_domain === true)!;
  const tpl = vms.find((v) => v.record.is_a_template === true)!;
  const cloneRefs: string[] = [];
  for (const name of ['web01', 'web02'])
    cloneRefs.push((await api.call('VM.clone', tpl.ref, name)) as string);
  await api.call('VM.set_is_a_template', cloneRefs[0], false);
  await api.call('VM.set_is_a_template', cloneRefs[1], false);
  // Hostile text in a map: markup, quotes, a tab and a newline (the API refuses control characters;
  // the document test below covers those).
  await api.call('VM.add_to_other_config', cloneRefs[0], 'note', 'a<b>&"c"\td\ne');
  await api.call('VM.add_to_other_config', cloneRefs[0], 'weird key', 'v');
  const web01 = await api.byRef('VM', cloneRefs[0]);
  const web02 = await api.byRef('VM', cloneRefs[1]);
  // Two PIFs on the host (the test manager runs without host networking, so straight in the DB).
  const net = (await api.call('network.create', {
    name_label: 'tmplexport-net',
    other_config: {},
  })) as string;
  const db = tm.manager.db;
  for (const [i, device] of ['eth0', 'eth1'].entries())
    db.create('PIF', {
      host: host.ref,
      network: net,
      device,
      MAC: `02:00:00:00:00:0${i}`,
      MTU: 1500,
      VLAN: -1,
    });
  const hostNow = await api.refresh(host);

  await t.test('host export PIFs: one PIF document per PIF (any case of the field)', async () => {
    for (const word of ['PIFs', 'pifs']) {
      const docs = await exportOf(api, hostNoun, hostNow, [word]);
      assert.equal(docs.length, 2);
      const trees = docs.map(parseXml);
      assert.deepEqual(
        trees.map((x) => x.tag),
        ['PIF', 'PIF'],
      );
      assert.deepEqual(trees.map((x) => child(x, 'device')?.text).sort(), ['eth0', 'eth1']);
      for (const x of trees) {
        assert.match(x.attrib.id, /^[0-9a-f-]{36}$/);
        assert.equal(x.attrib.href, `/api/PIF/${x.attrib.id}`);
        assert.deepEqual(links(x, 'host')[0].attrib, {
          rel: 'host',
          href: `/api/host/${host.record.uuid}`,
          ref: host.ref,
        });
        assert.equal(
          links(x, 'network')[0].attrib.href,
          `/api/network/${await api.call('network.get_uuid', net)}`,
        );
      }
    }
  });

  await t.test('host export: links for refs and ref sets, maps as entries', async () => {
    const [doc] = await exportOf(api, hostNoun, hostNow, []);
    const x = parseXml(doc);
    assert.equal(x.tag, 'host');
    assert.deepEqual(x.attrib, {
      href: `/api/host/${host.record.uuid}`,
      id: String(host.record.uuid),
      ref: host.ref,
    });
    assert.equal(child(x, 'name_label')?.text, host.record.name_label);
    assert.equal(links(x, 'control_domain')[0].attrib.href, `/api/VM/${dom0.record.uuid}`);
    const pifs = child(x, 'PIFs')!;
    assert.equal(pifs.children.length, 2);
    for (const l of pifs.children) assert.match(l.attrib.href, /^\/api\/PIF\/[0-9a-f-]{36}$/);
    const cpu = child(x, 'cpu_info')!;
    assert.equal(
      cpu.children.find((e) => e.attrib.key === 'cpu_count')?.text,
      host.record.cpu_info && (host.record.cpu_info as Record<string, string>).cpu_count,
    );
    // A null reference is a link without href.
    assert.deepEqual(links(x, 'suspend_image_sr')[0].attrib, {
      rel: 'suspend_image_sr',
      ref: 'OpaqueRef:NULL',
    });
  });

  await t.test("vm -s 'power_state=Halted' export name_label: one name per VM", async () => {
    const halted = (await api.allRecords('VM')).filter(
      (v) => vmNoun.filter!(v.record) && v.record.power_state === 'Halted',
    );
    assert.deepEqual((await exportOf(api, vmNoun, halted, ['name_label'])).sort(), ['web01', 'web02']);
    // oVirt's `name` reads the name field.
    assert.deepEqual((await exportOf(api, vmNoun, halted, ['name'])).sort(), ['web01', 'web02']);
  });

  await t.test('vm export in XML parses and carries every field, hostile text intact', async () => {
    const [doc] = await exportOf(api, vmNoun, web01, []);
    const x = parseXml(doc);
    assert.equal(x.tag, 'VM');
    assert.equal(x.attrib.id, web01.record.uuid);
    assert.equal(x.attrib.ref, web01.ref);
    assert.equal(child(x, 'name_label')?.text, 'web01');
    assert.equal(child(x, 'power_state')?.text, 'Halted');
    const oc = child(x, 'other_config')!;
    assert.equal(oc.children.find((e) => e.attrib.key === 'note')?.text, 'a<b>&"c"\td\ne');
    assert.equal(oc.children.find((e) => e.attrib.key === 'weird key')?.text, 'v');
    // Every record field has its element (a link for single refs).
    const tags = new Set(x.children.map((c) => (c.tag === 'link' ? c.attrib.rel : c.tag)));
    for (const f of Object.keys(web01.record)) assert.ok(tags.has(f), `field ${f} missing`);
    assert.equal(links(x, 'resident_on')[0].attrib.ref, 'OpaqueRef:NULL');
  });

  await t.test('vm export -o json: one JSON object per line; -o yaml: YAML documents', async () => {
    const lines = await exportOf(api, vmNoun, [web01, web02], [], 'json');
    assert.equal(lines.length, 2);
    const docs = lines.map((l) => JSON.parse(l));
    assert.deepEqual(
      docs.map((d) => [d.class, d.ref, d.record.name_label, d.record.uuid]),
      [web01, web02].map((v) => ['VM', v.ref, v.record.name_label, v.record.uuid]),
    );
    assert.equal(docs[0].record.other_config.note, 'a<b>&"c"\td\ne');
    assert.deepEqual(await exportOf(api, vmNoun, [web01, web02], ['name_label'], 'json'), [
      '"web01"',
      '"web02"',
    ]);
    const yaml = await exportOf(api, vmNoun, web02, [], 'yaml');
    const { parse } = await import('yaml');
    assert.match(yaml[0], /^---\n/);
    assert.equal(parse(yaml[0]).record.name_label, 'web02');
  });

  await t.test('paths through a reference, a map, a nested value', async () => {
    // dom0 runs on the host: resident_on leads to the host document, then to its fields.
    const [hostDoc] = await exportOf(api, vmNoun, dom0, ['resident_on']);
    assert.equal(parseXml(hostDoc).attrib.id, host.record.uuid);
    assert.deepEqual(await exportOf(api, vmNoun, dom0, ['resident_on', 'name_label']), [
      host.record.name_label,
    ]);
    assert.deepEqual(await exportOf(api, hostNoun, hostNow, ['PIFs', 'device']), ['eth0', 'eth1']);
    // A null reference leads nowhere; an empty set to nothing.
    assert.deepEqual(await exportOf(api, vmNoun, web01, ['resident_on']), []);
    assert.deepEqual(await exportOf(api, vmNoun, web01, ['VIFs']), []);
    // Maps are walked by key; a whole map is one document.
    assert.deepEqual(await exportOf(api, vmNoun, web01, ['other_config', 'weird key']), ['v']);
    const [oc] = await exportOf(api, vmNoun, web01, ['other_config']);
    assert.equal(parseXml(oc).tag, 'other_config');
    // Sets of plain values: one line each.
    assert.deepEqual(await exportOf(api, hostNoun, hostNow, ['capabilities']), host.record.capabilities);
  });

  await t.test('the examples of docs/berth-cli.md', async () => {
    const vif = (await api.call('VIF.create', vifRecord(web01.ref, net))) as string;
    const withVif = await api.refresh(web01);
    const [vifDoc] = await exportOf(api, vmNoun, withVif, ['VIFs']);
    assert.equal(parseXml(vifDoc).attrib.ref, vif);
    assert.deepEqual(await exportOf(api, vmNoun, withVif, ['VIFs', 'network', 'name_label']), [
      'tmplexport-net',
    ]);
    // The VMs on a host, from the host's side (dom0 included), with oVirt's `name`.
    assert.deepEqual(await exportOf(api, hostNoun, hostNow, ['resident_VMs', 'name']), [
      dom0.record.name_label,
    ]);
    // The host's ref for a search, as `berth -o json host -n h export | jq -r .ref` reads it.
    const [json] = await exportOf(api, hostNoun, hostNow, [], 'json');
    assert.equal(JSON.parse(json).ref, host.ref);
    const media = (await api.allRecords('VM')).find((v) => v.record.name_label === 'Other install media')!;
    assert.deepEqual(await exportOf(api, templateNoun, media, ['other_config', 'install-methods']), [
      'cdrom',
    ]);
  });

  await t.test('many objects: links of a class seen often are looked up in one call', async () => {
    const many: string[] = [];
    for (let i = 0; i < 40; i++) many.push((await api.call('VM.clone', tpl.ref, `bulk${i}`)) as string);
    const objects = await Promise.all(many.map((r) => api.byRef('VM', r)));
    const calls: string[] = [];
    const counting = new Proxy(api, {
      get(target, p) {
        if (p === 'call')
          return (m: string, ...a: unknown[]) => {
            calls.push(m);
            return target.call(m, ...a);
          };
        const v = Reflect.get(target, p);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const docs = await exportOf(counting, vmNoun, objects, []);
    assert.equal(docs.length, 40);
    assert.equal(calls.filter((c) => c === 'VM_metrics.get_all_records').length, 1);
    assert.equal(calls.filter((c) => c === 'VM_metrics.get_uuid').length, 0);
    const metricsUuid = await api.call('VM_metrics.get_uuid', objects[7].record.metrics);
    assert.equal(links(parseXml(docs[7]), 'metrics')[0].attrib.href, `/api/VM_metrics/${metricsUuid}`);
    for (const r of many) await api.call('VM.destroy', r);
  });

  await t.test('a large set of references is read in batches and exported in its order', async () => {
    for (let i = 0; i < 20; i++)
      await api.call('VM.snapshot', web02.ref, `snap${String(i).padStart(2, '0')}`);
    const withSnaps = await api.refresh(web02);
    const snaps = withSnaps.record.snapshots as string[];
    assert.equal(snaps.length, 20);
    const expected = await Promise.all(snaps.map((r) => api.call('VM.get_name_label', r)));
    assert.deepEqual(await exportOf(api, vmNoun, withSnaps, ['snapshots', 'name_label']), expected);
    const docs = await exportOf(api, vmNoun, withSnaps, ['snapshots']);
    assert.deepEqual(
      docs.map((d) => parseXml(d).attrib.ref),
      snaps,
    );
  });

  await t.test('an unknown attribute: the seed-form message, 251, nothing printed', async () => {
    await rejects251(exportOf(api, vmNoun, [web01, web02], ['bogus']), 'Attribute bogus missing in vm web01');
    // Deeper in the path: named after the object or value it is missing in.
    await rejects251(
      exportOf(api, vmNoun, dom0, ['resident_on', 'bogus']),
      `Attribute bogus missing in host ${host.record.name_label}`,
    );
    await rejects251(
      exportOf(api, vmNoun, web01, ['other_config', 'nokey']),
      'Attribute nokey missing in vm web01 other_config',
    );
    await rejects251(
      exportOf(api, vmNoun, web01, ['name_label', 'x']),
      'Attribute x missing in vm web01 name_label',
    );
  });

  await t.test('no object selected: nothing printed', async () => {
    assert.deepEqual(await exportOf(api, vmNoun, [], ['name_label']), []);
  });
});

test('system export summary vms active walks a plain nested record', async () => {
  const system: ApiObject = {
    cls: 'system',
    ref: 'system',
    record: { summary: { vms: { active: 40, total: 52 }, hosts: { active: 2 } }, product_name: 'Berth' },
  };
  // No API call is needed for plain records.
  const api = {} as Api;
  assert.deepEqual(await exportOf(api, systemNoun, system, ['summary', 'vms', 'active']), ['40']);
  const [doc] = await exportOf(api, systemNoun, system, ['summary']);
  const x = parseXml(doc);
  assert.equal(x.tag, 'summary');
  const vms = x.children.find((c) => c.attrib.key === 'vms')!;
  assert.deepEqual(
    vms.children.map((c) => [c.attrib.key, c.text]),
    [
      ['active', '40'],
      ['total', '52'],
    ],
  );
  await rejects251(
    exportOf(api, systemNoun, system, ['summary', 'vm']),
    'Attribute vm missing in system summary',
  );
  assert.deepEqual(await exportOf(api, systemNoun, system, ['summary', 'vms'], 'json'), [
    '{"active":40,"total":52}',
  ]);
});

test('documents: escaping, odd names, empty values', () => {
  assert.equal(xmlText('a<b>&c\u0000\uFFFE'), 'a&lt;b&gt;&amp;c\uFFFD\uFFFD');
  assert.equal(xmlAttr('"x"\n\t'), '&quot;x&quot;&#10;&#9;');
  const xml = objectXml(
    {
      cls: 'VM',
      ref: 'OpaqueRef:1',
      record: {
        uuid: 'u-1',
        '9lives': 'x',
        empty: '',
        none: null,
        list: [],
        map: {},
        nested: { a: [1, { b: true }] },
        when: new Date('2026-01-02T03:04:05Z'),
        snapshots: ['OpaqueRef:2', 'OpaqueRef:3'],
        parent: 'OpaqueRef:2',
      },
    },
    { snapshots: 'VM', parent: 'VM' },
    (_cls, ref) => (ref === 'OpaqueRef:2' ? 'u-2' : undefined),
  );
  const x = parseXml(xml);
  assert.equal(x.children.find((c) => c.tag === 'field')?.attrib.name, '9lives');
  assert.equal(child(x, 'empty')?.text, null);
  assert.equal(child(x, 'when')?.text, '2026-01-02T03:04:05.000Z');
  assert.deepEqual(
    child(x, 'snapshots')?.children.map((c) => c.attrib),
    [
      { rel: 'snapshots', href: '/api/VM/u-2', ref: 'OpaqueRef:2' },
      { rel: 'snapshots', ref: 'OpaqueRef:3' },
    ],
  );
  assert.equal(links(x, 'parent')[0].attrib.href, '/api/VM/u-2');
  const nested = child(x, 'nested')!.children[0];
  assert.equal(nested.attrib.key, 'a');
  assert.deepEqual(
    nested.children.map((c) => c.tag),
    ['item', 'item'],
  );
  assert.match(
    xml,
    /<empty><\/empty>/,
    "an empty string is an empty element, as oVirt's <comment></comment>",
  );
  assert.equal(
    valueXml('x', { k: 'OpaqueRef:2' }, 'VM', () => 'u-2'),
    '<x>\n    <entry key="k"><link rel="x" href="/api/VM/u-2" ref="OpaqueRef:2"/></entry>\n</x>',
  );
});

test('fieldOf: exact, then case-insensitive when unique, then name', () => {
  const r = { PIFs: 1, name_label: 2, Other: 3, other: 4 };
  assert.equal(fieldOf(r, 'PIFs'), 'PIFs');
  assert.equal(fieldOf(r, 'pifs'), 'PIFs');
  assert.equal(fieldOf(r, 'OTHER'), undefined, 'ambiguous');
  assert.equal(fieldOf(r, 'other'), 'other');
  assert.equal(fieldOf(r, 'name'), 'name_label');
  assert.equal(fieldOf({ subject: 1 }, 'name', 'subject'), 'subject');
  assert.equal(fieldOf(r, 'constructor'), undefined);
});
