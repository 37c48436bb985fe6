// The pure parts of the agent's networking: names, settings plans, bond/VLAN arguments, address
// parsing.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bondAddArgs, KERNEL_BOND_MODE } from '../../../src/agent/network/bond.js';
import { parseLinks } from '../../../src/agent/network/ip.js';
import { nextFreeName, tapName, validIfName, vlanDeviceName } from '../../../src/shared/net/names.js';
import { isNic, parseEthtool, parseLease } from '../../../src/agent/network/pif.js';
import { parseSwitch, planSettings } from '../../../src/agent/network/settings.js';
import { vlanAddArgs } from '../../../src/agent/network/vlan.js';
import { netmaskToPrefix } from '../../../src/shared/net/ipv4.js';
import { parseMtu } from '../../../src/shared/net/mtu.js';
import { validVlanTag } from '../../../src/shared/net/vlan-tag.js';

test('interface names: kernel limits and Berth-derived names', () => {
  assert.ok(validIfName('xenbr0'));
  assert.ok(validIfName('a'.repeat(15)));
  assert.ok(!validIfName('a'.repeat(16)));
  for (const bad of ['', 'a b', 'a/b', '..', '-x', 'eth0:1', 7, null])
    assert.ok(!validIfName(bad), String(bad));
  const tap = tapName('8c4f3e2a-91b0-4d2e-a1f3-0123456789ab');
  assert.equal(tap, 'vif8c4f3e2a91b0');
  assert.ok(validIfName(tap));
  assert.throws(() => tapName('nope'));
  assert.equal(vlanDeviceName('eth0', 100), 'eth0.100');
  const long = vlanDeviceName('enp0s31f6abcd', 4094);
  assert.ok(validIfName(long) && long.endsWith('.4094'), long);
  assert.equal(long, vlanDeviceName('enp0s31f6abcd', 4094));
  assert.equal(nextFreeName('bond', ['bond0', 'bond2']), 'bond1');
});

test('settings: every ethtool-* key, promiscuous and mtu are planned; bad values reported', () => {
  const plan = planSettings('tap0', {
    'ethtool-tx': 'off',
    'ethtool-rx': 'true',
    'ethtool-tso': 'on',
    'ethtool-gro': 'false',
    'ethtool-speed': '1000',
    'ethtool-duplex': 'full',
    'ethtool-autoneg': 'off',
    promiscuous: 'on',
    mtu: '9000',
    'ethtool-sg': 'maybe',
    'ethtool-duplex2': 'x',
    'ethtool-$(rm)': 'on',
    unrelated: 'x',
  });
  assert.equal(plan.mtu, 9000);
  const byKey = Object.fromEntries(plan.steps.map((s) => [s.key, [s.cmd, ...s.args].join(' ')]));
  assert.equal(byKey['ethtool-tx'], 'ethtool -K tap0 tx off');
  assert.equal(byKey['ethtool-rx'], 'ethtool -K tap0 rx on');
  assert.equal(byKey['ethtool-gro'], 'ethtool -K tap0 gro off');
  assert.equal(byKey['ethtool-speed'], 'ethtool -s tap0 speed 1000');
  assert.equal(byKey['ethtool-duplex'], 'ethtool -s tap0 duplex full');
  assert.equal(byKey['ethtool-autoneg'], 'ethtool -s tap0 autoneg off');
  assert.equal(byKey.promiscuous, 'ip link set dev tap0 promisc on');
  assert.deepEqual(Object.keys(plan.invalid).sort(), ['ethtool-$(rm)', 'ethtool-duplex2', 'ethtool-sg']);
  assert.equal(byKey.unrelated, undefined);
  assert.deepEqual(planSettings('x', { mtu: '12' }).invalid.mtu, 'invalid MTU: 12');
  assert.equal(parseSwitch(' ON '), true);
  assert.equal(parseSwitch('0'), undefined);
  assert.equal(parseMtu(undefined), undefined);
  assert.throws(() => parseMtu('9000x'));
});

test('bond modes map to kernel modes; properties are validated', () => {
  assert.deepEqual(KERNEL_BOND_MODE, {
    'balance-slb': 'balance-alb',
    'active-backup': 'active-backup',
    lacp: '802.3ad',
  });
  assert.deepEqual(bondAddArgs('bond0', 'active-backup', {}), [
    'link',
    'add',
    'name',
    'bond0',
    'type',
    'bond',
    'mode',
    'active-backup',
    'miimon',
    '100',
  ]);
  assert.deepEqual(
    bondAddArgs('bond0', 'lacp', { hashing_algorithm: 'src_mac', 'lacp-time': 'fast', updelay: '200' }),
    [
      'link',
      'add',
      'name',
      'bond0',
      'type',
      'bond',
      'mode',
      '802.3ad',
      'miimon',
      '100',
      'updelay',
      '200',
      'xmit_hash_policy',
      'layer2',
      'lacp_rate',
      'fast',
    ],
  );
  assert.throws(() => bondAddArgs('b', 'round-robin'));
  assert.throws(() => bondAddArgs('b', 'lacp', { hashing_algorithm: 'xor' }));
  assert.throws(() => bondAddArgs('b', 'active-backup', { miimon: '1; reboot' }));
});

test('VLAN tags and arguments', () => {
  assert.ok(validVlanTag(0) && validVlanTag(4094));
  assert.ok(!validVlanTag(4095) && !validVlanTag(-1) && !validVlanTag(1.5));
  assert.deepEqual(vlanAddArgs('eth1', 42), [
    'link',
    'add',
    'link',
    'eth1',
    'name',
    'eth1.42',
    'type',
    'vlan',
    'id',
    '42',
  ]);
});

test('addresses, leases, ethtool output, NIC detection', () => {
  assert.equal(netmaskToPrefix('255.255.255.0'), 24);
  assert.equal(netmaskToPrefix('255.255.255.255'), 32);
  assert.equal(netmaskToPrefix('0.0.0.0'), 0);
  assert.equal(netmaskToPrefix('255.0.255.0'), undefined);
  assert.equal(netmaskToPrefix('300.0.0.0'), undefined);
  assert.deepEqual(
    parseLease(
      'udhcpc: started\nBERTH-LEASE ip=10.1.2.3\nBERTH-LEASE subnet=255.255.0.0\nBERTH-LEASE router=10.1.0.1 10.1.0.2\nBERTH-LEASE dns=1.1.1.1 8.8.8.8\n',
    ),
    { IP: '10.1.2.3', netmask: '255.255.0.0', gateway: '10.1.0.1', DNS: '1.1.1.1,8.8.8.8' },
  );
  assert.equal(parseLease('nothing'), undefined);
  assert.deepEqual(parseEthtool('\tSpeed: 10000Mb/s\n\tDuplex: Full\n\tLink detected: yes\n'), {
    speed: 10000,
    duplex: true,
    link: true,
  });
  assert.deepEqual(parseEthtool('Speed: Unknown!\nDuplex: Unknown! (255)'), {
    speed: 0,
    duplex: false,
    link: undefined,
  });
  const links = parseLinks(
    JSON.stringify([
      {
        ifindex: 1,
        ifname: 'lo',
        flags: [],
        mtu: 65536,
        link_type: 'loopback',
        address: '00:00:00:00:00:00',
      },
      {
        ifindex: 2,
        ifname: 'eth0',
        flags: [],
        mtu: 1500,
        link_type: 'ether',
        address: 'aa:bb:cc:00:00:01',
        parentbus: 'pci',
      },
      {
        ifindex: 3,
        ifname: 'br0',
        flags: [],
        mtu: 1500,
        link_type: 'ether',
        address: 'aa:bb:cc:00:00:02',
        linkinfo: { info_kind: 'bridge' },
      },
      {
        ifindex: 4,
        ifname: 've0',
        flags: [],
        mtu: 1500,
        link_type: 'ether',
        address: 'aa:bb:cc:00:00:03',
        linkinfo: { info_kind: 'veth' },
      },
    ]),
  );
  assert.deepEqual(
    links.filter((l) => isNic(l)).map((l) => l.ifname),
    ['eth0'],
  );
  assert.deepEqual(
    links.filter((l) => isNic(l, ['veth'])).map((l) => l.ifname),
    ['eth0', 've0'],
  );
});
