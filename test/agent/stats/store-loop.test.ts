// The sampling loop: on the step grid, never two cycles at once (a slow one skips the next),
// errors logged and the loop going on, stop waiting for a cycle under way.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { msToNextTick, startStatsLoop } from '../../../src/agent/stats/loop.js';
import type { HostSample } from '../../../src/agent/stats/sample.js';
import { StatsStore } from '../../../src/agent/stats/store.js';
import { ScriptedSampler } from './scripted-sampler.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const STEP = 100;

test('msToNextTick: the next multiple of the step', () => {
  assert.equal(msToNextTick(1_000, 5_000), 4_000);
  assert.equal(msToNextTick(5_000, 5_000), 5_000);
  assert.equal(msToNextTick(9_999, 5_000), 1);
});

/** A sampler that notes when each reading starts and how many run at once. */
class Watched extends ScriptedSampler {
  starts: number[] = [];
  active = 0;
  maxActive = 0;
  override async sample(): Promise<HostSample> {
    this.starts.push(Date.now());
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      return await super.sample();
    } finally {
      this.active--;
    }
  }
}

test('cycles start on the grid and feed the store', async (t) => {
  const sampler = new Watched();
  const store = new StatsStore();
  const loop = startStatsLoop({ sampler, store, stepMs: STEP });
  t.after(() => loop.stop());
  await sleep(STEP * 6);
  await loop.stop();
  assert.ok(loop.cycles >= 2, `cycles: ${loop.cycles}`);
  // Timers fire late, never early: one start per grid slot, most of them just after its start
  // (a loaded machine delays some).
  const slots = sampler.starts.map((s) => Math.floor(s / STEP));
  assert.equal(new Set(slots).size, slots.length, 'two cycles in one step');
  const late = sampler.starts.map((s) => s % STEP).sort((a, b) => a - b);
  assert.ok(late[late.length >> 1] < STEP / 2, `lateness ${late.join(', ')} ms`);
  assert.equal(store.lastTime, sampler.time - 5);
});

test('a slow cycle skips the next one instead of overlapping it', async (t) => {
  const sampler = new Watched();
  sampler.delayMs = STEP * 2.5;
  const loop = startStatsLoop({ sampler, store: new StatsStore(), stepMs: STEP });
  t.after(() => loop.stop());
  await sleep(STEP * 10);
  await loop.stop();
  assert.equal(sampler.maxActive, 1);
  assert.ok(loop.cycles >= 1 && loop.cycles <= 4, `cycles: ${loop.cycles}`);
  assert.ok(loop.skipped >= 2, `skipped: ${loop.skipped}`);
});

test('a failing cycle is logged and the loop goes on; stop waits for the cycle under way', async (t) => {
  const sampler = new Watched();
  sampler.fail = true;
  const loop = startStatsLoop({ sampler, store: new StatsStore(), stepMs: STEP });
  t.after(() => loop.stop());
  await sleep(STEP * 4);
  assert.ok(sampler.starts.length >= 2, `attempts: ${sampler.starts.length}`);
  assert.equal(loop.cycles, 0);
  sampler.fail = false;
  sampler.delayMs = STEP;
  while (sampler.active === 0) await sleep(5);
  await loop.stop();
  assert.equal(sampler.active, 0);
  const n = sampler.starts.length;
  await sleep(STEP * 3);
  assert.equal(sampler.starts.length, n, 'no cycle after stop');
});
