import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { detectAccel } from '../../../src/agent/qemu/accel.js';

const probe = (present: string[]) => ({ exists: (p: string) => present.includes(p) });

test('KVM only with /dev/kvm and a standard KVM module', () => {
  assert.equal(detectAccel({}, probe(['/dev/kvm', '/sys/module/kvm_intel'])), 'kvm');
  assert.equal(detectAccel({}, probe(['/dev/kvm', '/sys/module/kvm_amd'])), 'kvm');
  assert.equal(detectAccel({}, probe(['/sys/module/kvm_intel'])), 'tcg');
  assert.equal(detectAccel({}, probe(['/dev/kvm'])), 'tcg');
});

test('kvm_pvm counts as unusable even next to kvm_intel', () => {
  assert.equal(detectAccel({}, probe(['/dev/kvm', '/sys/module/kvm_pvm'])), 'tcg');
  assert.equal(detectAccel({}, probe(['/dev/kvm', '/sys/module/kvm_pvm', '/sys/module/kvm_intel'])), 'tcg');
});

test('BERTH_ACCEL overrides; other values are ignored', () => {
  assert.equal(detectAccel({ BERTH_ACCEL: 'kvm' }, probe([])), 'kvm');
  assert.equal(detectAccel({ BERTH_ACCEL: 'tcg' }, probe(['/dev/kvm', '/sys/module/kvm_intel'])), 'tcg');
  assert.equal(detectAccel({ BERTH_ACCEL: 'xen' }, probe(['/dev/kvm', '/sys/module/kvm_amd'])), 'kvm');
});

test('the real probe picks TCG where kvm_pvm is loaded', {
  skip: existsSync('/sys/module/kvm_pvm') ? false : 'kvm_pvm is not loaded on this host: nothing to probe',
}, () => {
  assert.equal(detectAccel({}), 'tcg');
});
