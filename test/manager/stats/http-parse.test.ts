// The pure parts of the statistics endpoints: xapi's JSON/XML choice (Accept header, else the
// `json` key) and the /rrd_updates query as xcp-rrdd reads it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acceptPrefersJson, prefersJson } from '../../../src/manager/stats/http/accept.js';
import { parseInt64, parseUpdatesQuery } from '../../../src/manager/stats/http/updates-query.js';

test('Accept: ranks application/json against text/xml; unparsable or neutral headers do not decide', () => {
  assert.equal(acceptPrefersJson('application/json'), true);
  assert.equal(acceptPrefersJson('text/xml'), false);
  assert.equal(acceptPrefersJson('text/xml;q=0.5, application/json;q=0.9'), true);
  assert.equal(acceptPrefersJson('application/json;q=0.2, text/xml'), false);
  assert.equal(acceptPrefersJson('application/*;q=0.8, text/*;q=0.3'), true);
  assert.equal(acceptPrefersJson('*/*'), undefined, 'a tie (curl, fetch) does not decide');
  assert.equal(acceptPrefersJson('text/html, */*;q=0.8'), undefined, "a browser's header neither");
  assert.equal(acceptPrefersJson('application/json;q=0'), undefined, 'q=0 refuses json; xml unmatched');
  assert.equal(acceptPrefersJson('text/html'), undefined);
  assert.equal(acceptPrefersJson('nonsense'), undefined, 'Parse_failure → the json key decides');
  assert.equal(acceptPrefersJson('*/json'), undefined);
  assert.equal(acceptPrefersJson('application/json;q=2'), undefined);
  assert.equal(acceptPrefersJson(undefined), undefined);
  assert.equal(prefersJson(undefined, new URLSearchParams('json=false')), true, 'any json key, even false');
  assert.equal(prefersJson(undefined, new URLSearchParams('start=1')), false);
  assert.equal(prefersJson('text/xml', new URLSearchParams('json')), false, 'the header wins');
  assert.equal(prefersJson('bad header', new URLSearchParams('json')), true);
});

test('Int64.of_string: decimal with sign and underscores, within 64 bits', () => {
  assert.equal(parseInt64('1700000000'), 1700000000);
  assert.equal(parseInt64('-600'), -600);
  assert.equal(parseInt64('+5'), 5);
  assert.equal(parseInt64('1_000'), 1000);
  assert.equal(parseInt64('9223372036854775807'), Number(2n ** 63n - 1n));
  for (const bad of ['', 'abc', '1.5', '1e3', '9223372036854775808', ' 1', '0x10x'])
    assert.equal(parseInt64(bad), undefined, bad);
});

const A = '11111111-2222-4333-8444-555555555555';
const B = '21111111-2222-4333-8444-555555555555';

test('/rrd_updates query: xcp-rrdd defaults and refusals', () => {
  const q = (s: string, accept?: string) => parseUpdatesQuery(new URLSearchParams(s), accept);
  assert.deepEqual(q('interval=5'), {
    ok: false,
    status: 400,
    reason: "get_rrd_updates: missing the 'start' parameter",
  });
  assert.deepEqual(q('start=yesterday'), {
    ok: false,
    status: 500,
    reason: 'start: not an integer: yesterday',
  });
  assert.deepEqual(q('start=100'), {
    ok: true,
    query: { start: 100, interval: 0, host: false, srUuids: [], json: false },
  });
  assert.deepEqual(
    q(
      `start=-600&interval=60&cf=MAX&host=true&vm_uuid=${A}&vm_uuid=${B}&vm_uuid=NOPE&sr_uuid=${A}&json=1`,
      'text/html',
    ),
    {
      ok: true,
      query: {
        start: -600,
        interval: 60,
        cf: 'MAX',
        host: true,
        vmUuids: [A, B],
        srUuids: [A],
        json: true,
      },
    },
  );
  const loose = q('start=1&interval=often&cf=average&host=TRUE&vm_uuid=all&sr_uuid=x');
  assert.ok(loose.ok);
  assert.deepEqual(loose.query.srUuids, []);
  assert.equal(loose.query.interval, 0, 'an interval that does not parse is 0');
  assert.equal(loose.query.cf, undefined, 'an unknown cf means every CF');
  assert.equal(loose.query.host, false, 'only the exact string true');
  assert.deepEqual(loose.query.vmUuids, [], 'vm_uuid=all names no VM (not every VM)');
  const negative = q('start=1&interval=-5');
  assert.ok(negative.ok);
  assert.equal(negative.query.interval, 0);
  const huge = q('start=1&interval=99999999999999999999999');
  assert.ok(huge.ok);
  assert.equal(huge.query.interval, 0, 'beyond 64 bits Int64.of_string fails → 0');
});
