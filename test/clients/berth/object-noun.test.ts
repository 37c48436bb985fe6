// Objects are labelled by their own class's noun (the real NOUNS), not by the noun typed:
// `berth vm -n web01 disks add` prints `vdi <uuid> <name>`.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ApiObject } from '../../../src/clients/berth/api.js';
import { NOUNS } from '../../../src/clients/berth/nouns/index.js';
import { nounOfObject } from '../../../src/clients/berth/object-noun.js';
import { makeOutput } from '../../../src/clients/berth/output.js';
import { printOutcome } from '../../../src/clients/berth/runner.js';
import type { NounSpec } from '../../../src/clients/berth/spec.js';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { runBerth } from '../../helpers/berth-cli.js';
import { connectApi } from '../../helpers/berth-verb.js';
import { startManager } from '../../helpers/manager.js';
import { tempDir } from '../../helpers/tmp.js';

const noun = (name: string): NounSpec => {
  const n = NOUNS.find((x) => x.name === name);
  assert.ok(n, name);
  return n;
};
const obj = (cls: string, record: Record<string, unknown> = {}): ApiObject => ({
  cls,
  ref: `OpaqueRef:${cls}`,
  record: { uuid: `u-${cls}`, name_label: `n-${cls}`, ...record },
});
const VM = noun('vm');

describe('nounOfObject', () => {
  it('names each class by its own noun, whatever noun was typed', () => {
    for (const [cls, name] of [
      ['VDI', 'vdi'],
      ['VIF', 'vif'],
      ['VBD', 'vbd'],
      ['VM', 'vm'],
      ['SR', 'sr'],
      ['host', 'host'],
      ['network', 'network'],
      ['PIF', 'pif'],
      ['task', 'task'],
    ])
      assert.equal(nounOfObject(obj(cls), NOUNS, VM)?.name, name, cls);
  });
  it('tells templates and snapshots from VMs by their record', () => {
    assert.equal(nounOfObject(obj('VM', { is_a_template: true }), NOUNS, VM)?.name, 'template');
    assert.equal(
      nounOfObject(obj('VM', { is_a_template: true, is_a_snapshot: true }), NOUNS, VM)?.name,
      'snapshot',
    );
    assert.equal(nounOfObject(obj('VM', { is_a_snapshot: true }), NOUNS, noun('template'))?.name, 'snapshot');
  });
  it('falls back to a noun of the class when no filter takes the record', () => {
    assert.equal(nounOfObject(obj('VM', { is_control_domain: true }), NOUNS, VM)?.name, 'vm');
    assert.equal(nounOfObject(obj('VDI', { is_a_snapshot: true }), NOUNS, VM)?.name, 'vdi');
  });
  it('is case-insensitive on the class and undefined for a class no noun names', () => {
    assert.equal(nounOfObject(obj('vdi'), NOUNS, VM)?.name, 'vdi');
    assert.equal(nounOfObject(obj('PBD'), NOUNS, VM), undefined);
  });
});

describe('printOutcome labels', () => {
  const print = async (o: ApiObject) => {
    let text = '';
    const stdout = { isTTY: false, write: (s: string) => (text += s) };
    const io = { stdout: stdout as never, stderr: stdout as never, env: {} };
    assert.equal(await printOutcome(o, makeOutput(io, {}, undefined), io, VM, 'disks', NOUNS), 0);
    return text;
  };
  it('prints a VDI returned by a vm verb as a vdi', async () => {
    assert.equal(await print(obj('VDI', { name_label: 'web01_2' })), 'vdi u-VDI web01_2\n');
  });
  it('labels an object of an unnamed class by its class', async () => {
    assert.equal(await print(obj('PBD')), 'pbd u-PBD n-PBD\n');
  });
});

describe('the real CLI', () => {
  it('berth vm -n NAME disks add prints the new disk as a vdi', async (t) => {
    const m = await startManager(t);
    const dir = tempDir(t);
    const ini = join(dir, 'berth.ini');
    writeFileSync(ini, `[api]\nurl = ${m.httpUrl}\nusername = root\npassword = ${m.rootPassword}\n`);
    const api = await connectApi(m.httpUrl, m.rootPassword);
    t.after(() => api.client.close());
    await api.call('VM.create', baseVmRecord({ name_label: 'label-web01' }));
    const r = await runBerth(['vm', '-n', 'label-web01', 'disks', 'add', '--size', '16M'], {
      env: { BERTHCONFIG: ini },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^vdi [0-9a-f-]{36} \S+\n$/);
    const uuid = r.stdout.split(' ')[1];
    assert.equal((await api.byUuid('VDI', uuid)).cls, 'VDI');
  });
});
