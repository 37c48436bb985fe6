// Output formats: table (aligned, bold header only with colour), text (`{name} {id}` and -t
// formats), json, yaml and xml — the last three parsed back with real parsers (JSON.parse, the
// yaml package, Python's xml.etree) — and colour and progress bars only on a terminal.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import type { ApiObject } from '../../../src/clients/berth/api.js';
import { CliError } from '../../../src/clients/berth/errors.js';
import {
  cellText,
  colourAllowed,
  fillTemplate,
  makeOutput,
  type ListingStyle,
  renderListing,
  renderObject,
} from '../../../src/clients/berth/output.js';
import { printOutcome } from '../../../src/clients/berth/runner.js';
import { TEST_VM } from './fixtures.js';

const A: ApiObject = {
  cls: 'VM',
  ref: 'OpaqueRef:a',
  record: {
    uuid: 'u-a',
    name_label: 'web<01> & "x"',
    power_state: 'Running',
    VCPUs_max: 2,
    is_a_template: false,
    tags: ['t1', 't2'],
    other_config: { 'k-1': 'v1', 'key with space': '<b>' },
    VBDs: [],
    blocked_operations: {},
  },
};
const B: ApiObject = {
  cls: 'VM',
  ref: 'OpaqueRef:b',
  record: {
    uuid: 'u-b',
    name_label: 'db',
    power_state: 'Halted',
    VCPUs_max: 1,
    is_a_template: false,
    tags: [],
    other_config: {},
    VBDs: ['OpaqueRef:v'],
    blocked_operations: {},
  },
};
const STYLE: ListingStyle = {
  noun: 'vm',
  nameField: 'name_label',
  columns: ['uuid', 'name_label', 'power_state'],
};

/** Python's ElementTree reading the document back: [tag, attrib, [child tag, text]…] per object. */
function pythonXml(doc: string): unknown {
  const script = `
import json, sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
def conv(e):
    kids = list(e)
    if not kids: return e.text or ''
    return [[k.tag, dict(k.attrib), conv(k)] for k in kids]
print(json.dumps([root.tag, dict(root.attrib), conv(root)]))
`;
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', script], { input: doc, encoding: 'utf8' }));
}

describe('renderListing', () => {
  it('text: the {name} {id} line per object, or a -t format', async () => {
    assert.deepEqual(await renderListing([A, B], 'text', STYLE, false), ['web<01> & "x" u-a', 'db u-b']);
    assert.deepEqual(
      await renderListing([B], 'text', { ...STYLE, template: '{id!s}:{power_state} {{x}} {tags}' }, false),
      ['u-b:Halted {x} '],
    );
    assert.equal(
      fillTemplate('{tags} {other_config} {ref}', A, 'name_label'),
      't1,t2 k-1=v1; key with space=<b> OpaqueRef:a',
    );
    assert.throws(
      () => fillTemplate('{nope}', A, 'name_label'),
      (e) =>
        e instanceof CliError && e.exitCode === 253 && e.message === "unknown field 'nope' (a field of VM)",
    );
  });
  it('table: aligned columns under an upper-case header, bold only with colour', async () => {
    assert.deepEqual(await renderListing([A, B], 'table', STYLE, false), [
      'UUID  NAME_LABEL     POWER_STATE',
      'u-a   web<01> & "x"  Running',
      'u-b   db             Halted',
    ]);
    const [head] = await renderListing([B], 'table', STYLE, true);
    assert.equal(head, '\x1b[1mUUID  NAME_LABEL  POWER_STATE\x1b[0m');
  });
  it('json: every field of every record, with its ref', async () => {
    const [doc] = await renderListing([A, B], 'json', STYLE, false);
    assert.deepEqual(JSON.parse(doc), [
      { ref: 'OpaqueRef:a', ...A.record },
      { ref: 'OpaqueRef:b', ...B.record },
    ]);
  });
  it('yaml: the same data', async () => {
    const lines = await renderListing([A, B], 'yaml', STYLE, false);
    assert.deepEqual(parseYaml(lines.join('\n')), [
      { ref: 'OpaqueRef:a', ...A.record },
      { ref: 'OpaqueRef:b', ...B.record },
    ]);
  });
  it('xml: one element per object, a child per field, lists as items and maps as entries', async () => {
    const doc = (await renderListing([A, B], 'xml', STYLE, false)).join('\n');
    const [tag, attrs, objects] = pythonXml(doc) as [
      string,
      object,
      [string, Record<string, string>, unknown][],
    ];
    assert.equal(tag, 'vm-list');
    assert.deepEqual(attrs, {});
    assert.equal(objects.length, 2);
    const [vmTag, vmAttrs, fields] = objects[0] as [
      string,
      Record<string, string>,
      [string, object, unknown][],
    ];
    assert.equal(vmTag, 'vm');
    assert.deepEqual(vmAttrs, { class: 'VM', ref: 'OpaqueRef:a' });
    const byName = Object.fromEntries(fields.map(([n, , v]) => [n, v]));
    assert.equal(byName.name_label, 'web<01> & "x"');
    assert.equal(byName.VCPUs_max, '2');
    assert.equal(byName.is_a_template, 'false');
    assert.deepEqual(byName.tags, [
      ['item', {}, 't1'],
      ['item', {}, 't2'],
    ]);
    assert.deepEqual(byName.other_config, [
      ['entry', { key: 'k-1' }, 'v1'],
      ['entry', { key: 'key with space' }, '<b>'],
    ]);
    assert.equal(byName.VBDs, '');
    assert.deepEqual(
      (objects[1] as [string, object, [string, object, unknown][]])[2].find(([n]) => n === 'VBDs')?.[2],
      [['item', {}, 'OpaqueRef:v']],
    );
  });
});

describe('renderObject', () => {
  it('text: the reference line; machine formats: the record', async () => {
    assert.deepEqual(await renderObject(B, 'text', STYLE, false), ['vm u-b db']);
    assert.deepEqual(JSON.parse((await renderObject(B, 'json', STYLE, false))[0]), {
      ref: 'OpaqueRef:b',
      ...B.record,
    });
    assert.deepEqual(parseYaml((await renderObject(B, 'yaml', STYLE, false)).join('\n')), {
      ref: 'OpaqueRef:b',
      ...B.record,
    });
    const [tag, attrs] = pythonXml((await renderObject(B, 'xml', STYLE, false)).join('\n')) as [
      string,
      object,
    ];
    assert.deepEqual([tag, attrs], ['vm', { class: 'VM', ref: 'OpaqueRef:b' }]);
    assert.equal((await renderObject(B, 'table', STYLE, false)).length, 2);
  });
});

describe('cellText', () => {
  it('writes lists, maps and missing values on one line', () => {
    assert.equal(cellText(undefined), '');
    assert.equal(cellText([1, 'a']), '1,a');
    assert.equal(cellText({ a: 1, b: [2, 3] }), 'a=1; b=2,3');
  });
});

class Sink {
  text = '';
  constructor(readonly isTTY: boolean) {}
  write(s: string) {
    this.text += s;
    return true;
  }
}

describe('terminal habits', () => {
  it('colours only a terminal, and never with NO_COLOR or TERM=dumb', () => {
    assert.equal(colourAllowed(true, {}), true);
    assert.equal(colourAllowed(false, {}), false);
    assert.equal(colourAllowed(true, { NO_COLOR: '1' }), false);
    assert.equal(colourAllowed(true, { NO_COLOR: '' }), true, 'an empty NO_COLOR does not count');
    assert.equal(colourAllowed(true, { TERM: 'dumb' }), false);
  });
  it('draws progress bars on a terminal stderr only', () => {
    for (const tty of [true, false]) {
      const stdout = new Sink(tty);
      const stderr = new Sink(tty);
      const out = makeOutput({ stdout: stdout as never, stderr: stderr as never }, {}, undefined);
      out.progress('copy', 0.25);
      out.line('done');
      out.progressDone();
      assert.equal(stdout.text, 'done\n');
      assert.equal(stderr.text, tty ? `\rcopy  25% [${'#'.repeat(8)}${' '.repeat(22)}]\n` : '');
      assert.equal(out.isTTY, tty);
    }
  });
  it('defaults to table on a terminal and text in a pipe', async () => {
    for (const tty of [true, false]) {
      const stdout = new Sink(tty);
      const stderr = new Sink(tty);
      const io = { stdout: stdout as never, stderr: stderr as never, env: { NO_COLOR: '1' } };
      const out = makeOutput(io, io.env, undefined);
      assert.equal(await printOutcome({ records: [B] }, out, io, TEST_VM, 'list'), 0);
      assert.equal(
        stdout.text,
        tty ? 'UUID  NAME_LABEL  POWER_STATE\nu-b   db          Halted\n' : 'db u-b\n',
      );
    }
  });
});

describe('printOutcome (print rules)', () => {
  const run = async (outcome: Parameters<typeof printOutcome>[0]) => {
    const stdout = new Sink(false);
    const stderr = new Sink(false);
    const io = { stdout: stdout as never, stderr: stderr as never, env: {} };
    const code = await printOutcome(outcome, makeOutput(io, {}, undefined), io, TEST_VM, 'start');
    return { code, stdout: stdout.text, stderr: stderr.text };
  };
  it('true → success, false → failed, undefined → nothing', async () => {
    assert.deepEqual(await run(true), { code: 0, stdout: 'success\n', stderr: '' });
    assert.deepEqual(await run(false), { code: 251, stdout: '', stderr: "'testvm start' failed\n" });
    assert.deepEqual(await run(undefined), { code: 0, stdout: '', stderr: '' });
  });
  it('strings as they are, lines as they come (empty ones skipped), explicit statuses', async () => {
    assert.deepEqual(await run('hello'), { code: 0, stdout: 'hello\n', stderr: '' });
    const lines = (async function* () {
      yield 'a';
      yield '';
      yield 'b';
    })();
    assert.deepEqual(await run(lines), { code: 0, stdout: 'a\nb\n', stderr: '' });
    assert.deepEqual(await run({ exitCode: 0, message: 'Nothing to do, up to date' }), {
      code: 0,
      stdout: 'Nothing to do, up to date\n',
      stderr: '',
    });
    assert.deepEqual(await run({ exitCode: 2, message: 'upgrade interrupted' }), {
      code: 2,
      stdout: '',
      stderr: 'upgrade interrupted\n',
    });
  });
  it('an object as its reference line', async () => {
    assert.deepEqual(await run(B), { code: 0, stdout: 'testvm u-b db\n', stderr: '' });
  });
});
