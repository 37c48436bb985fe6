// The setter checks as Xen Orchestra's xen-api npm client sees them, over JSON-RPC and XML-RPC
// (ints travel as numbers in one and strings in the other): errors with xapi's codes and
// parameters, and the record left unchanged.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createClient, type Xapi } from 'xen-api';
import { baseVmRecord } from '../../../src/manager/bootstrap/vm-record.js';
import { startManager } from '../../helpers/manager.js';

const MiB = 1024 * 1024;

async function failure(xapi: Xapi, method: string, ...args: unknown[]): Promise<[string, string[]]> {
  try {
    await xapi.call(method, ...args);
  } catch (e) {
    const err = e as { code?: string; params?: string[] };
    if (err.code) return [err.code, err.params ?? []];
    throw e;
  }
  throw new Error(`${method} succeeded; a failure was expected`);
}

for (const transport of ['json-rpc', 'xml-rpc']) {
  test(`xen-api (${transport}) gets xapi's setter errors`, { timeout: 60_000 }, async (t) => {
    const m = await startManager(t, { https: true });
    const xapi = createClient({
      url: m.httpsUrl,
      auth: { user: 'root', password: m.rootPassword },
      allowUnauthorized: true,
      transport,
      watchEvents: false,
    });
    await xapi.connect();
    t.after(() => xapi.disconnect());

    const vm = (await xapi.call('VM.create', baseVmRecord({ name_label: 'setters-xen-api' }))) as string;
    for (const v of [1, 0, -1]) {
      const [code, params] = await failure(xapi, 'VM.set_memory_static_max', vm, v);
      assert.equal(code, 'MEMORY_CONSTRAINT_VIOLATION', `static_max ${v}`);
      assert.match(params[0], /memory_static_max/);
    }
    assert.equal(
      (await failure(xapi, 'VM.set_memory_limits', vm, -1, -1, -1, -1))[0],
      'MEMORY_CONSTRAINT_VIOLATION',
    );
    assert.deepEqual(await failure(xapi, 'VM.set_memory_dynamic_range', vm, 512 * MiB, 128 * MiB), [
      'MEMORY_CONSTRAINT_VIOLATION_ORDER',
      [],
    ]);
    assert.deepEqual(await failure(xapi, 'VM.set_VCPUs_max', vm, 100000), [
      'VALUE_NOT_SUPPORTED',
      ['VCPUs_max', '100000', 'Berth starts guests with at most 128 vCPUs'],
    ]);
    assert.deepEqual(await failure(xapi, 'VM.set_start_delay', vm, -5), [
      'INVALID_VALUE',
      ['start_delay must be non-negative', '-5'],
    ]);
    assert.equal(String(await xapi.call('VM.get_memory_static_max', vm)), String(256 * MiB));
    assert.equal(String(await xapi.call('VM.get_VCPUs_max', vm)), '1');

    await xapi.call('VM.set_memory', vm, 512 * MiB);
    assert.equal(String(await xapi.call('VM.get_memory_dynamic_max', vm)), String(512 * MiB));
  });
}
