import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileWhere, parseWhere, whereColumns, whereString } from '../../../src/manager/db/where.js';
import { XenApiError } from '../../../src/shared/errors.js';

const row = (r: Record<string, string>) => (c: string) => r[c];
const matches = (expr: string, r: Record<string, string>) => compileWhere(parseWhere(expr))(row(r));

const vm = {
  is_a_template: 'false',
  is_control_domain: 'false',
  power_state: 'Running',
  name__label: 'web 1',
};
const dom0 = {
  is_a_template: 'false',
  is_control_domain: 'true',
  power_state: 'Running',
  name__label: 'Control domain',
};

test('the reference example selects guests and not the control domain', () => {
  const expr = 'field "is_a_template"="false" and not (field "is_control_domain"="true")';
  assert.equal(matches(expr, vm), true);
  assert.equal(matches(expr, dom0), false);
});

test('and/or have the same precedence and associate to the left; not binds tightest', () => {
  // (true or true) and false = false; with and binding tighter it would be true.
  assert.deepEqual(parseWhere('true or true and false'), {
    kind: 'and',
    left: { kind: 'or', left: { kind: 'const', value: true }, right: { kind: 'const', value: true } },
    right: { kind: 'const', value: false },
  });
  assert.equal(matches('true or true and false', {}), false);
  assert.equal(matches('not false and false', {}), false);
  assert.equal(matches('not (false and false)', {}), true);
});

test('literals and fields compare as strings, in either order, whitespace free-form', () => {
  assert.equal(matches('"Running"=field "power_state"', vm), true);
  assert.equal(matches('field"name__label"="web 1"', vm), true);
  assert.equal(matches('\tfield "power_state"\n=\r"running"', vm), false);
  assert.equal(matches('"a"="a"', {}), true);
  assert.equal(matches('"a"="b"', {}), false);
  assert.equal(matches('field "is_a_template"=field "is_control_domain"', vm), true);
  // Unknown columns equal nothing, not even each other.
  assert.equal(matches('field "nope"=""', vm), false);
  assert.equal(matches('field "nope"=field "nada"', vm), false);
  assert.equal(matches('field ""="x"', vm), false);
});

test('parse errors are INVALID_VALUE [expr, reason]', () => {
  const bad = (expr: string, reason: RegExp) =>
    assert.throws(
      () => parseWhere(expr),
      (e: unknown) =>
        e instanceof XenApiError &&
        e.code === 'INVALID_VALUE' &&
        e.params[0] === expr &&
        reason.test(e.params[1]),
    );
  bad('', /end of expression/);
  bad('field "a"', /'='/);
  bad('field "a"=', /end of expression/);
  bad('field a="b"', /unknown keyword 'a'/);
  bad('FIELD "a"="b"', /unknown keyword/);
  bad('field "a"="b" AND true', /unknown keyword 'AND'/);
  bad('"a"="b', /unterminated/);
  bad('("a"="b"', /'\)'/);
  bad('"a"="b")', /end of the expression/);
  bad('"a"=="b"', /quoted literal/);
  bad("'a'='b'", /unexpected character/);
  bad('true true', /end of the expression/);
  bad('not', /end of expression/);
  bad(`${'('.repeat(500)}true${')'.repeat(500)}`, /too deeply/);
  bad(`${'not '.repeat(500)}true`, /too deeply/);
  bad('x'.repeat(70_000), /too long/);
});

test('long flat chains are fine (iterative), and columns can be listed', () => {
  const expr = Array.from({ length: 2000 }, (_, i) => `field "c${i % 7}"="v"`).join(' or ');
  const ast = parseWhere(expr);
  assert.deepEqual(whereColumns(ast).sort(), ['c0', 'c1', 'c2', 'c3', 'c4', 'c5', 'c6']);
  assert.equal(compileWhere(ast)(row({ c6: 'v' })), true);
  assert.equal(compileWhere(ast)(row({ c6: 'w' })), false);
});

test('whereString gives the database string forms', () => {
  assert.equal(whereString(true), 'true');
  assert.equal(whereString(false), 'false');
  assert.equal(whereString(8589934592), '8589934592');
  assert.equal(whereString(0.5), '0.5');
  assert.equal(whereString('Running'), 'Running');
  assert.equal(whereString(['OpaqueRef:a', "it's"]), "('OpaqueRef:a' 'it\\'s')");
  assert.equal(whereString({ k: 'v', 'a\\b': '' }), "(('k' 'v') ('a\\\\b' ''))");
  assert.equal(whereString([]), '()');
});
