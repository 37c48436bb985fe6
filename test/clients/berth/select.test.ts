// The search grammar of -s (parser and evaluator) and the selection by -i/-n/-s over records.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ApiObject } from '../../../src/clients/berth/api.js';
import { CliError } from '../../../src/clients/berth/errors.js';
import {
  describeSelection,
  filterRecords,
  matchesSearch,
  parseSearch,
} from '../../../src/clients/berth/select.js';
import type { Selection } from '../../../src/clients/berth/spec.js';
import { TEST_HOST, TEST_VM } from './fixtures.js';

describe('parseSearch', () => {
  it('reads terms joined by and, any case, with the three operators', () => {
    assert.deepEqual(parseSearch('power_state=running AND name_label~web and uuid!=x'), [
      { field: 'power_state', op: '=', value: 'running' },
      { field: 'name_label', op: '~', value: 'web' },
      { field: 'uuid', op: '!=', value: 'x' },
    ]);
  });
  it('reads quoted values with spaces, escapes, and spaces around the operator', () => {
    assert.deepEqual(parseSearch(`name_label = "web 01" and name_description='it\\'s' and x=""`), [
      { field: 'name_label', op: '=', value: 'web 01' },
      { field: 'name_description', op: '=', value: "it's" },
      { field: 'x', op: '=', value: '' },
    ]);
  });
  it('keeps = inside a bare value', () => {
    assert.deepEqual(parseSearch('other=a=b'), [{ field: 'other', op: '=', value: 'a=b' }]);
  });
  const bad: [string, number, string][] = [
    ['', 1, 'empty expression'],
    ['name_label', 11, "'name_label' has no operator (=, != or ~)"],
    ['name_label>3', 11, 'an operator (=, != or ~) was expected'],
    ['name_label=', 12, "'name_label=' has no value"],
    ['a=1 or b=2', 5, "'and' was expected, not 'or'"],
    ['a=1 and', 8, "a term was expected after 'and'"],
    ['a="x', 3, 'unterminated quoted value'],
    ['a="x"y', 6, 'a space was expected after the quoted value'],
    ['=x', 1, 'a field name was expected'],
  ];
  for (const [expr, pos, reason] of bad)
    it(`rejects ${JSON.stringify(expr)} at position ${pos}`, () => {
      assert.throws(
        () => parseSearch(expr),
        (e) =>
          e instanceof CliError &&
          e.exitCode === 253 &&
          e.message === `malformed search expression at position ${pos}: ${reason}` &&
          e.detail === `  ${expr}\n  ${' '.repeat(pos - 1)}^`,
      );
    });
});

describe('matchesSearch', () => {
  const rec = {
    name_label: 'Web01',
    uuid: 'u1',
    power_state: 'Running',
    tags: ['a', 'b'],
    other_config: { k: 'v' },
    VCPUs_max: 2,
  };
  const m = (expr: string) => matchesSearch(rec, parseSearch(expr));
  it('compares = and != exactly, ~ as a case-insensitive substring', () => {
    assert.equal(m('power_state=Running'), true);
    assert.equal(m('power_state=running'), false);
    assert.equal(m('power_state!=Halted'), true);
    assert.equal(m('name_label~web'), true);
    assert.equal(m('name_label~xyz'), false);
  });
  it('reads numbers as text, lists and maps by element', () => {
    assert.equal(m('VCPUs_max=2'), true);
    assert.equal(m('tags=b'), true);
    assert.equal(m('tags!=a'), false);
    assert.equal(m('other_config=k=v'), true);
    assert.equal(m('other_config~k='), true);
  });
  it('takes name and id for the name field and the uuid; needs every term', () => {
    assert.equal(m('name=Web01 and id=u1'), true);
    assert.equal(m('name=Web01 and id=u2'), false);
    assert.equal(matchesSearch({ hostname: 'h1' }, parseSearch('name=h1'), 'hostname'), true);
  });
  it('treats a missing field as no value', () => {
    assert.equal(m('nope=x'), false);
    assert.equal(m('nope!=x'), true);
  });
});

describe('filterRecords', () => {
  const vm = (ref: string, name: string, extra: Record<string, unknown> = {}): ApiObject => ({
    cls: 'VM',
    ref,
    record: {
      uuid: `uuid-${ref}`,
      name_label: name,
      is_a_template: false,
      is_control_domain: false,
      ...extra,
    },
  });
  const all = [
    vm('r1', 'web01'),
    vm('r2', 'web02'),
    vm('r3', 'db01'),
    vm('t1', 'web-tpl', { is_a_template: true }),
  ];
  const names = (sel: Selection) => filterRecords(all, TEST_VM, sel).map((o) => o.record.name_label);
  it("applies the noun's filter, then every selection given", () => {
    assert.deepEqual(names({}), ['web01', 'web02', 'db01']);
    assert.deepEqual(names({ name: 'web01' }), ['web01']);
    assert.deepEqual(names({ id: 'uuid-r2' }), ['web02']);
    assert.deepEqual(names({ id: 'r3' }), ['db01']);
    assert.deepEqual(names({ search: 'name~web' }), ['web01', 'web02']);
    assert.deepEqual(names({ search: 'name~web', name: 'web02' }), ['web02']);
    assert.deepEqual(names({ name: 'web-tpl' }), []);
  });
  it("matches -n against the noun's name field", () => {
    const hosts: ApiObject[] = [
      { cls: 'host', ref: 'h', record: { uuid: 'u', name_label: 'x', hostname: 'node1' } },
    ];
    assert.equal(filterRecords(hosts, TEST_HOST, { name: 'node1' }).length, 1);
    assert.equal(filterRecords(hosts, TEST_HOST, { name: 'x' }).length, 0);
  });
});

describe('describeSelection', () => {
  it("shows the selection as oVirtCmd's messages do", () => {
    assert.equal(describeSelection({}), '{}');
    assert.equal(describeSelection({ name: 'web01', from: 3 }), "{'name': 'web01'}");
    assert.equal(describeSelection({ id: 'u', search: "a='b'" }), "{'id': 'u', 'search': 'a=\\'b\\''}");
  });
});
