// lsblk: the seed's tree from a recorded output, and the real lsblk seeing a loop device and
// its partition created here.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BlockDevice, buildTree, parsePairs } from '../../../src/agent/plugins/builtin/lsblk.js';
import { failure, fixture, fixtureJson, host, scripted, tempDir } from './helpers.js';

describe('lsblk', () => {
  it('builds the seed tree from `lsblk -P` output', async () => {
    const { run, calls } = scripted(() => ({ stdout: fixture('lsblk-P.txt') }));
    const out = JSON.parse(await host({ run }).call('lsblk.py', 'list_block_devices', {}));
    assert.deepEqual(calls, [['lsblk', '-P', '-b', '-o', 'NAME,KNAME,PKNAME,SIZE,TYPE,RO,MOUNTPOINT']]);
    assert.deepEqual(out, fixtureJson('lsblk-expected.json'));
  });

  it('parses quoted, empty and unquoted values', () => {
    assert.deepEqual(parsePairs('NAME="a b" PKNAME="" RO=0'), { name: 'a b', pkname: '', ro: '0' });
  });

  it('fails cleanly when a child comes before its parent', () => {
    assert.throws(() => buildTree('NAME="x" KNAME="x" PKNAME="y"\n'), /before its parent y/);
  });

  it('reports a failing lsblk', async () => {
    const run = scripted(() => ({ code: 32, stderr: 'lsblk: failed to access sysfs directory' })).run;
    const d = await failure(host({ run }).call('lsblk', 'list_block_devices', {}));
    assert.equal(d[1], '32');
  });

  describe('real lsblk', () => {
    const dir = tempDir('lsblk');
    let loop = '';
    before(() => {
      const img = join(dir.path, 'disk.img');
      // An MBR with one Linux partition (sectors 2048..18431, 8 MiB), so the tree has a child.
      const mbr = Buffer.alloc(512);
      mbr[446 + 4] = 0x83;
      mbr.writeUInt32LE(2048, 446 + 8);
      mbr.writeUInt32LE(16384, 446 + 12);
      mbr.writeUInt16LE(0xaa55, 510);
      writeFileSync(img, mbr);
      truncateSync(img, 16 * 1024 * 1024);
      loop = execFileSync('losetup', ['-f', '--show', img]).toString().trim();
      // Loop partition scanning is off here; partx registers the partition explicitly.
      execFileSync('partx', ['-a', loop]);
    });
    after(() => {
      if (loop) {
        execFileSync('partx', ['-d', loop]);
        execFileSync('losetup', ['-d', loop]);
      }
      dir.cleanup();
    });

    it('sees the loop device with its size and its partition as a child', async () => {
      const out = JSON.parse(await host().call('lsblk', 'list_block_devices', {}));
      const name = loop.replace('/dev/', '');
      const dev = (out.blockdevices as BlockDevice[]).find((d) => d.kname === name);
      assert.ok(dev, `${name} not listed`);
      assert.equal(dev.size, String(16 * 1024 * 1024));
      assert.equal(dev.type, 'loop');
      assert.equal(dev.ro, '0');
      assert.equal(dev.pkname, '');
      assert.deepEqual(
        dev.children?.map((c) => [c.kname, c.pkname, c.type, c.size]),
        [[`${name}p1`, name, 'part', String(8 * 1024 * 1024)]],
      );
      for (const key of ['name', 'kname', 'pkname', 'size', 'type', 'ro', 'mountpoint'])
        assert.ok(key in dev, key);
    });
  });
});
