// The QMP commands of a live snapshot (pure): golden transaction and overlay commands, and the
// disk → top node lookup on query-block answers as QEMU 7.2 gives them (boot-time -drive and a
// hot-plugged disk after an earlier snapshot).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  isDiskOf,
  overlayAddCommand,
  overlayDelCommand,
  overlayNodeName,
  snapshotBitmapsBefore,
  snapshotCatchUp,
  snapshotTransaction,
  topNodes,
} from '../../../src/agent/qemu/live-snapshot.js';
import { assertGolden } from '../../helpers/golden.js';

const GOLDEN = join(fileURLToPath(new URL('.', import.meta.url)), 'golden');

// Shapes from QEMU 7.2 (e2e run): a -drive disk, and a hot-plugged one (anonymous backend).
const BLOCKS = [
  {
    device: 'drive-vbd-xvda',
    qdev: '/machine/peripheral/vbd-xvda/virtio-backend',
    inserted: { 'node-name': '#block189' },
  },
  {
    device: '',
    qdev: '/machine/peripheral/vbd-xvdb/virtio-backend',
    inserted: { 'node-name': 'snapmxai-xvdb' },
  },
  { device: 'drive-vbd-xvdc', qdev: 'vbd-xvdc' }, // an empty CD drive: nothing inserted
];

test('the top node of each disk comes from query-block, by -drive id or qdev path', () => {
  assert.deepEqual(topNodes(BLOCKS, ['xvda', 'xvdb']), { xvda: '#block189', xvdb: 'snapmxai-xvdb' });
  assert.equal(isDiskOf(BLOCKS[1], 'xvd'), false, 'a device name is not a prefix match');
  assert.throws(() => topNodes(BLOCKS, ['xvdc']), /no block node for disk xvdc/);
  assert.throws(() => topNodes(BLOCKS, ['xvdz']), /no block node for disk xvdz/);
});

test('overlay node names are unique per sequence number and within QEMU’s 31 characters', () => {
  const a = overlayNodeName('xvda', 1_764_900_000_000);
  const b = overlayNodeName('xvda', 1_764_900_000_001);
  assert.notEqual(a, b);
  assert.ok(overlayNodeName('a-very-long-device-name-indeed', Date.now()).length <= 31);
  assert.match(overlayNodeName('XVD A', 7), /^snap7-xvd_a$/);
});

test('golden: one transaction over every disk, bitmaps carried, and the overlay commands', () => {
  const disks = [
    { top: '#block189', overlay: 'snap1-xvda' },
    {
      top: 'snap0-xvdb',
      overlay: 'snap1-xvdb',
      cbt: {
        keep: ['6f1c1c5e-2a53-4c55-9a52-0e8c2f6d1a01'],
        generation: '7d3e0f55-1b2c-4d5e-8f60-718293a4b5c6',
      },
    },
  ];
  const tx = snapshotTransaction(disks);
  const cmds = [
    overlayAddCommand('snap1-xvda', '/var/lib/berth/sr/default/.tmp-x.qcow2'),
    ...snapshotBitmapsBefore(disks), // CBT: the bitmaps the overlay starts with
    tx,
    ...snapshotCatchUp(disks), // after the transaction: the kept generations' history
    overlayDelCommand('snap1-xvda'),
  ];
  assertGolden(join(GOLDEN, 'live-snapshot.json'), `${JSON.stringify(cmds, null, 2)}\n`);
  const types = (tx.arguments.actions as { type: string }[]).map((a) => a.type);
  assert.deepEqual(
    types,
    ['blockdev-snapshot', 'blockdev-snapshot'],
    'nothing but the snapshot in the pause',
  );
});
