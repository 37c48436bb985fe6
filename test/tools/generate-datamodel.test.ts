// The datamodel generator (tools/generate-datamodel.ts): its helpers against xapi's conventions,
// spot checks of facts xapi's datamodel states (roles, async, implicit messages, column names),
// and the committed generator reproducing the generated model exactly (a stale model.ts fails).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { NULL_REF } from '../../src/shared/datamodel/types.js';
import { MODEL } from '../../src/shared/datamodel/generated/model.js';
import {
  buildModel,
  columnName,
  loadExtensions,
  mergeExtensions,
  parseDefault,
  refFields,
  refManyFields,
  serverParams,
  zeroValue,
} from '../../tools/generate-datamodel.js';

const DM = join(import.meta.dirname, '../../src/shared/datamodel');
const T = {
  string: { kind: 'string' },
  int: { kind: 'int' },
  float: { kind: 'float' },
  bool: { kind: 'bool' },
  datetime: { kind: 'datetime' },
} as const;

test('columnName: xapi’s DB columns join a namespace with __', () => {
  assert.equal(columnName('name_label'), 'name__label');
  assert.equal(columnName('memory_static_max'), 'memory__static_max');
  assert.equal(columnName('VCPUs_at_startup'), 'VCPUs__at_startup');
  assert.equal(columnName('actions_after_crash'), 'actions__after_crash');
  assert.equal(columnName('PV_kernel'), 'PV__kernel');
  assert.equal(columnName('HVM_boot_policy'), 'HVM__boot_policy');
  assert.equal(columnName('qos_algorithm_type'), 'qos__algorithm_type');
  assert.equal(columnName('API_version_major'), 'API_version__major');
  assert.equal(columnName('io_read_kbs'), 'io__read_kbs');
  for (const plain of ['uuid', 'name', 'name_', 'names_x', 'power_state', 'other_config', 'memory'])
    assert.equal(columnName(plain), plain, plain);
});

test('zeroValue: the value of a field nobody set', () => {
  const enums = { e: ['first', 'second'] };
  assert.equal(zeroValue(T.string, enums), '');
  assert.equal(zeroValue(T.int, enums), 0);
  assert.equal(zeroValue({ kind: 'int32' }, enums), 0);
  assert.equal(zeroValue(T.float, enums), 0);
  assert.equal(zeroValue(T.bool, enums), false);
  assert.equal(zeroValue(T.datetime, enums), '19700101T00:00:00Z');
  assert.equal(zeroValue({ kind: 'ref', cls: 'VM' }, enums), NULL_REF);
  assert.equal(zeroValue({ kind: 'enum', name: 'e' }, enums), 'first');
  assert.equal(zeroValue({ kind: 'enum', name: 'missing' }, enums), '');
  assert.deepEqual(zeroValue({ kind: 'set', of: T.string }, enums), []);
  assert.deepEqual(zeroValue({ kind: 'map', key: T.string, value: T.string }, enums), {});
  assert.deepEqual(zeroValue({ kind: 'record', cls: 'VM' }, enums), {});
  assert.equal(zeroValue({ kind: 'option', of: T.string }, enums), undefined);
});

test('parseDefault: the datamodel’s default syntax', () => {
  assert.equal(parseDefault('""', T.string), '');
  assert.equal(parseDefault('"abc"', T.string), 'abc');
  assert.equal(parseDefault('abc', T.string), 'abc');
  assert.equal(parseDefault('1.', T.float), 1);
  assert.equal(parseDefault('2.5', T.float), 2.5);
  assert.equal(parseDefault('-1', T.int), -1);
  assert.equal(parseDefault('true', T.bool), true);
  assert.equal(parseDefault('false', T.bool), false);
  assert.equal(parseDefault('Null', { kind: 'ref', cls: 'VM' }), NULL_REF);
  assert.equal(parseDefault('', { kind: 'ref', cls: 'VM' }), NULL_REF);
  assert.equal(parseDefault('OpaqueRef:x', { kind: 'ref', cls: 'VM' }), 'OpaqueRef:x');
  assert.equal(parseDefault('"restart"', { kind: 'enum', name: 'x' }), 'restart');
  assert.equal(parseDefault('"19700101T00:00:00Z"', T.datetime), '19700101T00:00:00Z');
  assert.deepEqual(parseDefault('{}', { kind: 'set', of: T.string }), []);
  assert.deepEqual(parseDefault('{"a", "b"}', { kind: 'set', of: T.string }), ['a', 'b']);
  assert.deepEqual(parseDefault('{0}', { kind: 'set', of: T.int }), [0]);
  assert.deepEqual(parseDefault('{}', { kind: 'map', key: T.string, value: T.string }), {});
  assert.deepEqual(
    parseDefault('{"a" -> "b", "c" -> "d"}', { kind: 'map', key: T.string, value: T.string }),
    {
      a: 'b',
      c: 'd',
    },
  );
  assert.deepEqual(parseDefault('{"x" -> 1.}', { kind: 'map', key: T.string, value: T.float }), { x: 1 });
  assert.throws(() => parseDefault('{}', { kind: 'record', cls: 'VM' }), /cannot parse default/);
});

test('the generated model states xapi’s facts', () => {
  const msg = (w: string) => {
    const [cls] = w.split('.');
    const m = MODEL.classes[cls].messages.find((x) => x.wire === w);
    assert.ok(m, w);
    return m;
  };
  assert.deepEqual(MODEL.enums.vm_power_state, ['Halted', 'Paused', 'Running', 'Suspended']);
  const start = msg('VM.start');
  assert.deepEqual(
    start.roles.filter((r) => r !== 'client-cert'),
    ['pool-admin', 'pool-operator', 'vm-power-admin', 'vm-admin', 'vm-operator'],
  );
  assert.equal(start.async, true);
  assert.equal(start.session, true);
  assert.equal(start.implicit, false);
  assert.deepEqual(
    start.params.map((p) => p.name),
    ['vm', 'start_paused', 'force'],
  );
  const login = msg('session.login_with_password');
  assert.equal(login.session, false);
  const get = msg('VM.get_record');
  assert.equal(get.implicit, 'get_record');
  assert.equal(get.async, false);
  assert.equal(msg('VM.get_name_label').implicit, 'getter');
  assert.equal(msg('VM.get_name_label').field, 'name_label');
  assert.equal(msg('VM.set_name_label').implicit, 'setter');
  // explicit upstream (custom roles for protected keys), generic map accessors all the same
  const add = msg('VM.add_to_other_config');
  assert.equal(add.implicit || add.generic, 'map_add');
  assert.equal(add.field, 'other_config');
  const rm = msg('VM.remove_from_other_config');
  assert.equal(rm.implicit || rm.generic, 'map_remove');
  assert.equal(msg('VM.add_tags').implicit, 'set_add');
  assert.equal(msg('VM.remove_tags').implicit, 'set_remove');
  assert.equal(msg('VM.create').implicit, 'create');
  assert.equal(msg('VM.create').async, true);
  assert.equal(msg('VM.destroy').async, true);
  assert.equal(msg('VM.get_all_records_where').implicit, 'get_all_records_where');
  assert.equal(msg('VM.get_all_where').implicit, 'get_all_where');
  const field = (cls: string, f: string) => MODEL.classes[cls].fields.find((x) => x.name === f);
  assert.equal(field('VM', 'name_label')?.column, 'name__label');
  assert.equal(field('VM', 'allowed_operations')?.qualifier, 'RO/runtime');
  assert.equal(field('VM', 'name_label')?.qualifier, 'RW');
  const keys = Object.keys(field('VM', 'other_config')?.mapKeyRoles ?? {});
  assert.ok(keys.includes('folder') && keys.includes('XenCenter.CustomFields.*'), keys.join(' '));
});

test('the generator reproduces the generated model exactly (model.ts is not stale)', () => {
  const raw = JSON.parse(readFileSync(join(DM, 'xenapi-datamodel.json'), 'utf8'));
  const facts = JSON.parse(readFileSync(join(DM, 'upstream-facts.json'), 'utf8'));
  const ext = loadExtensions(DM);
  // model.ts stores the model as JSON, so compare in that form (undefined members vanish)
  assert.deepEqual(JSON.parse(JSON.stringify(buildModel(raw, facts, ext))), MODEL);
});

test('Berth extensions: merged, marked, kept out of the database and events, sync unless listed', () => {
  const raw = JSON.parse(readFileSync(join(DM, 'xenapi-datamodel.json'), 'utf8'));
  const facts = JSON.parse(readFileSync(join(DM, 'upstream-facts.json'), 'utf8'));
  const ext = loadExtensions(DM);
  const model = buildModel(raw, facts, ext);
  const sr = model.classes.storage_resource;
  assert.equal(sr.extension, 'berth');
  assert.equal(sr.inDb, false);
  assert.equal(sr.genEvents, false);
  assert.equal(model.classes.VM.extension, undefined);
  const msg = (n: string) => sr.messages.find((m) => m.name === n)!;
  assert.equal(msg('get_record').async, false);
  assert.equal(msg('get_record').implicit, false);
  assert.deepEqual(msg('create_root').roles, ['pool-admin']);
  assert.ok(msg('get_all').roles.includes('read-only'));
  // A clash with a XenAPI class is refused rather than silently shadowing it.
  const clash = { ...ext, classes: [{ ...ext.classes[0], name: 'VM' }] };
  assert.throws(() => buildModel(raw, facts, clash), /clashes with XenAPI/);
  const readme = readFileSync(join(import.meta.dirname, '../../docs/api/README.md'), 'utf8');
  assert.match(readme, /## Berth extensions[\s\S]*\[storage_resource\]/);
});

test('Berth extension messages on XenAPI classes: added, marked, sync unless listed, never shadowing', () => {
  const raw = JSON.parse(readFileSync(join(DM, 'xenapi-datamodel.json'), 'utf8'));
  const facts = JSON.parse(readFileSync(join(DM, 'upstream-facts.json'), 'utf8'));
  const verify = {
    name: 'probe_ext',
    description: 'A test extension message.',
    result: ['string', ''],
    params: [
      { type: 'session ref', name: 'session_id', doc: '', required: true },
      { type: 'host ref', name: 'host', doc: '', required: true },
    ],
    errors: [],
    roles: ['pool-admin'],
    implicit: false,
    lifecycle: { state: 'Published_s' },
  };
  const ext = mergeExtensions([
    { asyncMessages: [], classes: [] },
    { asyncMessages: ['host.probe_ext'], classes: [], messages: { host: [verify] } },
  ]);
  const m = buildModel(raw, facts, ext).classes.host.messages.find((x) => x.name === 'probe_ext')!;
  assert.equal(m.extension, 'berth');
  assert.equal(m.async, true);
  assert.deepEqual(
    m.params.map((p) => p.name),
    ['host'],
  );
  const sync = buildModel(raw, facts, { asyncMessages: [], classes: [], messages: { host: [verify] } });
  assert.equal(sync.classes.host.messages.find((x) => x.name === 'probe_ext')!.async, false);
  assert.equal(MODEL.classes.host.messages.find((x) => x.name === 'get_record')!.extension, undefined);
  const shadow = { asyncMessages: [], classes: [], messages: { host: [{ ...verify, name: 'evacuate' }] } };
  assert.throws(() => buildModel(raw, facts, shadow), /clashes with XenAPI/);
  const nowhere = { asyncMessages: [], classes: [], messages: { nope: [verify] } };
  assert.throws(() => buildModel(raw, facts, nowhere), /unknown class nope/);
  assert.throws(() => mergeExtensions([{ ...ext }, { ...ext }]), /twice/);
});

test('serverParams: a handler’s arguments, session left out and optional ones present', () => {
  const msg = (wire: string) => {
    const [cls, name] = wire.split('.');
    const m = MODEL.classes[cls].messages.find((x) => x.name === name);
    assert.ok(m, wire);
    return m;
  };
  assert.equal(serverParams(msg('VM.start')), "[vm: Ref<'VM'>, start_paused: boolean, force: boolean]");
  assert.equal(
    serverParams(msg('session.login_with_password')),
    '[uname: string, pwd: string, version: string, originator: string]',
  );
  assert.equal(serverParams(msg('VM.create')), '[args: Partial<VM_record>]');
  assert.equal(serverParams(msg('event.inject')), '[class_: string, ref: string]');
  assert.equal(serverParams(msg('VM.get_all')), '[]');
});

test('refFields: the class each reference field points to (berth export), as ref-fields.ts holds it', async () => {
  const refs = refFields(MODEL);
  assert.equal(refs.VM.resident_on, 'host', 'a ref');
  assert.equal(refs.host.PIFs, 'PIF', 'a ref set');
  assert.equal(refs.VM.blobs, 'blob', "a map's ref values");
  assert.equal(refs.VM.name_label, undefined, 'plain fields are left out');
  const many = refManyFields(MODEL);
  assert.ok(many.host.includes('PIFs'), 'a set holds several');
  assert.ok(many.VM.includes('blobs'), 'a map holds several');
  assert.ok(!many.VM.includes('resident_on') && !many.VM.includes('snapshot_of'), 'a ref holds one');
  const { REF_FIELDS, REF_MANY_FIELDS } = await import('../../src/shared/datamodel/generated/ref-fields.js');
  assert.deepEqual(REF_FIELDS, refs, 'ref-fields.ts is not stale');
  assert.deepEqual(REF_MANY_FIELDS, many, 'ref-fields.ts is not stale');
});
