// netdata: install through the package manager (scripted: nothing is installed here), the
// stream.conf it writes, the API key read back, and the service check.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseApiKey } from '../../../src/agent/plugins/builtin/netdata.js';
import { failure, host, scripted, tempDir } from './helpers.js';

describe('netdata', () => {
  const dir = tempDir('netdata');
  const conf = join(dir.path, 'netdata', 'stream.conf');
  after(() => dir.cleanup());
  const key = '8a5b9d4e-3c1f-4e2a-9b7d-0f6e5c4d3b2a';

  it('installs the package, writes stream.conf and restarts the service', async () => {
    const { run, calls } = scripted(() => ({}));
    const h = host({ run, packageManager: 'apt', refreshPackageLists: false, netdataStreamConf: conf });
    assert.equal(
      await h.call('netdata.py', 'install_netdata', { api_key: key, destination: 'tcp:192.168.0.34:19999' }),
      'true',
    );
    assert.deepEqual(
      calls.map((c) => c.filter((a) => !a.startsWith('Dpkg::') && a !== '-o')),
      [
        ['apt-get', '-y', '-q', 'install', 'netdata'],
        ['service', 'netdata', 'restart'],
      ],
    );
    const text = readFileSync(conf, 'utf8');
    assert.match(text, /^\[stream\]$/m);
    assert.match(text, /^\s*destination = tcp:192\.168\.0\.34:19999$/m);
    assert.equal(await h.call('netdata', 'get_netdata_api_key', {}), key);
  });

  it('does not touch the service when the install fails', async () => {
    const { run, calls } = scripted((argv) =>
      argv[0] === 'apt-get' ? { code: 100, stderr: 'E: Unable to locate package netdata' } : {},
    );
    const other = join(dir.path, 'other.conf');
    const h = host({ run, packageManager: 'apt', refreshPackageLists: false, netdataStreamConf: other });
    const d = await failure(h.call('netdata', 'install_netdata', { api_key: key, destination: 'tcp:h:1' }));
    assert.equal(d[1], '100');
    assert.match(d[3], /Unable to locate package netdata/);
    assert.equal(calls.length, 1);
    assert.equal(existsSync(other), false);
  });

  it('refuses missing or multi-line values', async () => {
    const { run, calls } = scripted(() => ({}));
    const h = host({ run, packageManager: 'apt', netdataStreamConf: conf });
    assert.equal((await failure(h.call('netdata', 'install_netdata', { api_key: key })))[2], "'destination'");
    assert.equal(
      (
        await failure(
          h.call('netdata', 'install_netdata', { api_key: `${key}\n[web]`, destination: 'tcp:h:1' }),
        )
      )[2],
      `Invalid api_key '${key}\n[web]'`,
    );
    assert.equal(calls.length, 0);
  });

  it('reads the key with comments and indentation, "" without a file', async () => {
    assert.equal(
      parseApiKey('# api key = nope\n[stream]\n    enabled = yes\n\tapi key = abc # the key\n'),
      'abc',
    );
    const missing = host({ netdataStreamConf: join(dir.path, 'absent.conf') });
    assert.equal(await missing.call('netdata', 'get_netdata_api_key', {}), '');
    writeFileSync(join(dir.path, 'nokey.conf'), '[stream]\nenabled = no\n');
    assert.equal(
      await host({ netdataStreamConf: join(dir.path, 'nokey.conf') }).call(
        'netdata',
        'get_netdata_api_key',
        {},
      ),
      '',
    );
  });

  it('is_netdata_installed follows `service netdata status`', async () => {
    assert.equal(
      await host({ run: scripted(() => ({})).run }).call('netdata', 'is_netdata_installed', {}),
      'true',
    );
    assert.equal(
      await host({ run: scripted(() => ({ code: 4 })).run }).call('netdata', 'is_netdata_installed', {}),
      'false',
    );
    // This machine has no netdata.
    assert.equal(await host().call('netdata', 'is_netdata_installed', {}), 'false');
  });
});
