// docs/setters.md lists every setter rule with the rule, errors and side effect the code has.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { MODEL } from '../../../src/shared/datamodel/generated/model.js';
import { ruleDocRow, SETTER_RULES } from '../../../src/manager/validation/setter-rules.js';

const doc = readFileSync(new URL('../../../docs/setters.md', import.meta.url), 'utf8');

test('every rule has its row in docs/setters.md', () => {
  const missing = Object.entries(SETTER_RULES)
    .map(([wire, rule]) => ruleDocRow(wire, rule))
    .filter((row) => !doc.includes(row));
  assert.deepEqual(missing, []);
});

test('every rule names a message of the datamodel', () => {
  const wires = new Set(Object.values(MODEL.classes).flatMap((c) => c.messages.map((m) => m.wire)));
  assert.deepEqual(
    Object.keys(SETTER_RULES).filter((w) => !wires.has(w)),
    [],
  );
});
