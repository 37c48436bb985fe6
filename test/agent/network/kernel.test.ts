// The agent's networking on the real kernel, every object inside a namespace the test creates:
// bridges (ownership), TAPs on bridges with MTU and other_config settings, TAP ownership for an
// unprivileged QEMU, two stand-in guests on one bridge, NIC discovery, DHCP from a real udhcpd,
// VLAN isolation and bond failover (where the kernel has 802.1Q and bonding).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { link, links } from '../../../src/agent/network/ip.js';
import { networkProcedures } from '../../../src/agent/network/procedures.js';
import { lookupUser } from '../../../src/agent/qemu/proc.js';
import { execIn, ipIn, kernelSupports, netns, ping, vethInto } from './netns.js';

test('bridges: create is idempotent, exist check, only Berth-made bridges are deleted', async (t) => {
  const ns = await netns(t, 'br');
  const p = networkProcedures({ netns: ns });
  await p.bridge_create('xapi0', 1400);
  await p.bridge_create('xapi0', 1400);
  const br = await link('xapi0', { netns: ns });
  assert.equal(br?.linkinfo?.info_kind, 'bridge');
  assert.equal(br?.mtu, 1400);
  assert.equal(await p.bridges_exist(['xapi0']), true);
  assert.equal(await p.bridges_exist(['xapi0', 'nope0']), false);
  assert.equal(await p.bridges_exist([]), true);
  // An administrator's bridge: usable, never deleted by Berth.
  await ipIn(ns, 'link', 'add', 'adminbr', 'type', 'bridge');
  assert.equal(await p.bridges_exist(['adminbr']), true);
  assert.equal(await p.bridge_destroy('adminbr'), false);
  assert.ok(await link('adminbr', { netns: ns }));
  assert.equal(await p.bridge_destroy('xapi0'), true);
  assert.equal(await link('xapi0', { netns: ns }), undefined);
  // A non-bridge with the name is refused; bad names are refused before any command runs.
  await ipIn(ns, 'link', 'add', 'notbr', 'type', 'veth', 'peer', 'name', 'notbr-p');
  await assert.rejects(p.bridge_create('notbr', undefined), /not a bridge/);
  await assert.rejects(p.bridge_create('bad name', undefined), /invalid bridge name/);
  await assert.rejects(p.bridges_exist('xapi0'), /INVALID_VALUE: bridges, "xapi0"/);
});

test('VIF TAPs: on the bridge, MTU, ethtool/promiscuous applied or reported, removed on detach', async (t) => {
  const ns = await netns(t, 'tap');
  const p = networkProcedures({ netns: ns });
  await p.bridge_create('xapi1', 1500);
  const report = (await p.vif_attach('vif0123456789ab', 'xapi1', 1400, {
    'ethtool-tx': 'off',
    'ethtool-lro': 'on',
    promiscuous: 'on',
    'ethtool-sg': 'sometimes',
  })) as { applied: string[]; failed: Record<string, string> };
  const tap = await link('vif0123456789ab', { netns: ns });
  assert.equal(tap?.linkinfo?.info_kind, 'tun');
  assert.equal(tap?.master, 'xapi1');
  assert.equal(tap?.mtu, 1400);
  assert.ok((tap?.promiscuity ?? 0) >= 1);
  assert.deepEqual(report.applied.sort(), ['ethtool-tx', 'promiscuous']);
  // A TAP cannot do LRO: reported, not fatal. A bad value is reported without running.
  assert.ok(report.failed['ethtool-lro'], JSON.stringify(report));
  assert.match(report.failed['ethtool-sg'], /expected on\/true\/off\/false/);
  const features = await execIn(ns, 'ethtool', '-k', 'vif0123456789ab');
  assert.match(features.stdout, /tx-checksumming: off/);
  // Attaching again adopts the existing TAP; reconfiguring changes the MTU.
  await p.vif_attach('vif0123456789ab', 'xapi1', undefined, {});
  await p.vif_configure('vif0123456789ab', { mtu: '1300' });
  assert.equal((await link('vif0123456789ab', { netns: ns }))?.mtu, 1300);
  assert.equal(await p.vif_detach('vif0123456789ab'), true);
  assert.equal(await link('vif0123456789ab', { netns: ns }), undefined);
  assert.equal(await p.vif_detach('vif0123456789ab'), false);
  // Unknown bridge: refused, and no TAP is left behind.
  await assert.rejects(p.vif_attach('vifdeadbeef0000', 'nobridge', undefined, {}), /does not exist/);
  assert.equal(await link('vifdeadbeef0000', { netns: ns }), undefined);
});

// TUNSETIFF on a persistent TAP from a process that opened /dev/net/tun as root and then dropped
// to `uid`:`gid` — what QEMU does on a hot-plugged NIC after -runas (it opens /dev/net/tun itself,
// mode 0666 on a stock Debian host; here it may be 0600, hence the open before the drop).
const TUN_PROBE = `
import fcntl, os, struct, sys
fd = os.open('/dev/net/tun', os.O_RDWR)
os.setgroups([]); os.setgid(int(sys.argv[3])); os.setuid(int(sys.argv[2]))
try:
    fcntl.ioctl(fd, 0x400454CA, struct.pack('16sH', sys.argv[1].encode(), 0x0002 | 0x1000))
    print('attached')
except OSError as e:
    print('errno', e.errno)
`;

test('VIF TAPs belong to root: no other user can attach to one, even with /dev/net/tun open', async (t) => {
  const who = lookupUser('nobody');
  if (!who || !existsSync('/usr/bin/python3')) return t.skip('needs the user nobody and python3');
  const ns = await netns(t, 'own');
  const p = networkProcedures({ netns: ns });
  await p.bridge_create('xapi2', 1500);
  await p.vif_attach('vif0000000000aa', 'xapi2', undefined, {});
  const tap = await link('vif0000000000aa', { netns: ns });
  assert.equal(tap?.linkinfo?.info_data?.user, 'root');
  const attach = async (uid: number, gid: number) =>
    (
      await execIn(ns, '/usr/bin/python3', '-c', TUN_PROBE, 'vif0000000000aa', String(uid), String(gid))
    ).stdout.trim();
  // The probe opens /dev/net/tun as root, then drops: only the TAP's owner check stops it.
  assert.equal(await attach(who.uid, who.gid), 'errno 1', "QEMU's user gets EPERM (it gets descriptors)");
  assert.equal(await attach(12345, 12345), 'errno 1', 'another user gets EPERM');
  assert.equal(await attach(0, 0), 'attached', "root (the agent's berth-fdpass) attaches");
});

test('two stand-in guests on one network bridge reach each other', async (t) => {
  const host = await netns(t, 'h');
  const g1 = await netns(t, 'g1');
  const g2 = await netns(t, 'g2');
  const p = networkProcedures({ netns: host });
  await p.bridge_create('xenbr-berth0', undefined);
  await vethInto(host, 'vifa', g1, 'eth0');
  await vethInto(host, 'vifb', g2, 'eth0');
  await p.pif_plug('vifa', 'xenbr-berth0', undefined);
  await p.pif_plug('vifb', 'xenbr-berth0', undefined);
  await ipIn(g1, 'addr', 'add', '10.77.0.1/24', 'dev', 'eth0');
  await ipIn(g2, 'addr', 'add', '10.77.0.2/24', 'dev', 'eth0');
  assert.ok(await ping(g1, '10.77.0.2'));
  assert.ok(await ping(g2, '10.77.0.1'));
  await p.pif_unplug('vifb');
  assert.equal(await ping(g1, '10.77.0.2', 1), false);
});

test('PIF discovery sees NICs (veth admitted in tests) with MAC, MTU, carrier and addresses', async (t) => {
  const ns = await netns(t, 'scan');
  const peer = await netns(t, 'peer');
  await vethInto(ns, 'eth7', peer, 'eth0');
  await ipIn(ns, 'addr', 'add', '10.78.0.5/24', 'dev', 'eth7');
  await ipIn(ns, 'link', 'add', 'brx', 'type', 'bridge');
  const real = (await networkProcedures({ netns: ns }).pif_scan()) as { device: string }[];
  assert.deepEqual(real, [], 'a fresh namespace has no physical NICs');
  const nics = (await networkProcedures({ netns: ns, nicKinds: ['veth'] }).pif_scan()) as any[];
  assert.equal(nics.length, 1);
  const l = (await links({ netns: ns })).find((x) => x.ifname === 'eth7');
  assert.deepEqual(nics[0], {
    device: 'eth7',
    MAC: l?.address,
    MTU: 1500,
    carrier: true,
    bus: '',
    addresses: ['10.78.0.5/24'],
  });
  const m = (await networkProcedures({ netns: ns }).pif_metrics('eth7')) as any;
  assert.equal(m.carrier, true);
  assert.equal(await networkProcedures({ netns: ns }).pif_metrics('nope0'), undefined);
});

test('PIF IP configuration: Static, DHCP from a real udhcpd, None', async (t) => {
  const ns = await netns(t, 'ip');
  const srv = await netns(t, 'dhcpd');
  const p = networkProcedures({ netns: ns });
  await vethInto(ns, 'eth1', srv, 'srv0');
  await p.pif_plug('eth1', 'xenbr1', undefined);
  const r = await p.pif_reconfigure_ip('xenbr1', {
    mode: 'Static',
    IP: '10.79.0.7',
    netmask: '255.255.255.0',
    gateway: '10.79.0.1',
  });
  assert.deepEqual(r, { IP: '10.79.0.7', netmask: '255.255.255.0', gateway: '10.79.0.1', DNS: '' });
  const addr = await ipIn(ns, '-4', '-o', 'addr', 'show', 'dev', 'xenbr1');
  assert.match(addr, /10\.79\.0\.7\/24/);
  assert.match(await ipIn(ns, 'route', 'show', 'default'), /via 10\.79\.0\.1 dev xenbr1/);
  await assert.rejects(
    p.pif_reconfigure_ip('xenbr1', { mode: 'Static', IP: '10.79.0.300', netmask: '255.255.255.0' }),
    /invalid/,
  );

  // A real DHCP server in the peer namespace.
  await ipIn(srv, 'addr', 'add', '10.79.0.1/24', 'dev', 'srv0');
  const dir = mkdtempSync(join(tmpdir(), 'berth-udhcpd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(
    join(dir, 'udhcpd.conf'),
    `start 10.79.0.50\nend 10.79.0.60\ninterface srv0\nlease_file ${dir}/leases\npidfile ${dir}/pid\noption subnet 255.255.255.0\noption router 10.79.0.1\noption dns 10.79.0.1\n`,
  );
  writeFileSync(join(dir, 'leases'), '');
  const dhcpd = spawn('ip', ['netns', 'exec', srv, 'busybox', 'udhcpd', '-f', join(dir, 'udhcpd.conf')], {
    stdio: 'ignore',
  });
  t.after(() => {
    dhcpd.kill('SIGKILL');
  });
  await new Promise((r) => setTimeout(r, 300));
  const lease = (await p.pif_reconfigure_ip('xenbr1', { mode: 'DHCP' })) as any;
  assert.match(lease.IP, /^10\.79\.0\.(5\d|60)$/);
  assert.equal(lease.netmask, '255.255.255.0');
  assert.equal(lease.gateway, '10.79.0.1');
  assert.equal(lease.DNS, '10.79.0.1');
  assert.match(
    await ipIn(ns, '-4', '-o', 'addr', 'show', 'dev', 'xenbr1'),
    new RegExp(`${lease.IP.replace(/\./g, '\\.')}/24`),
  );
  assert.ok(await ping(ns, '10.79.0.1', 1));

  await p.pif_reconfigure_ip('xenbr1', { mode: 'None' });
  assert.equal((await ipIn(ns, '-4', '-o', 'addr', 'show', 'dev', 'xenbr1')).trim(), '');
});

test('two VLAN networks on one trunk are isolated', async (t) => {
  if (!(await kernelSupports(t, 'vlan'))) {
    return t.skip('this kernel has no 802.1Q support (CONFIG_VLAN_8021Q)');
  }
  const host = await netns(t, 'trunk');
  const sw = await netns(t, 'sw');
  const p = networkProcedures({ netns: host });
  // The "switch" side: the trunk's far end with VLAN 10 and 20 sub-interfaces.
  await vethInto(host, 'eth2', sw, 'trunk');
  await ipIn(sw, 'link', 'add', 'link', 'trunk', 'name', 'trunk.10', 'type', 'vlan', 'id', '10');
  await ipIn(sw, 'link', 'add', 'link', 'trunk', 'name', 'trunk.20', 'type', 'vlan', 'id', '20');
  await ipIn(sw, 'addr', 'add', '10.80.10.1/24', 'dev', 'trunk.10');
  await ipIn(sw, 'addr', 'add', '10.80.20.1/24', 'dev', 'trunk.20');
  await ipIn(sw, 'link', 'set', 'trunk.10', 'up');
  await ipIn(sw, 'link', 'set', 'trunk.20', 'up');
  assert.equal(await p.vlan_create('eth2', 10, 'xapi10', undefined), 'eth2.10');
  assert.equal(await p.vlan_create('eth2', 20, 'xapi20', undefined), 'eth2.20');
  // Host-side addresses on the two VLAN bridges, in the same /16 so only tagging separates them.
  await ipIn(host, 'addr', 'add', '10.80.10.2/24', 'dev', 'xapi10');
  await ipIn(host, 'addr', 'add', '10.80.20.2/24', 'dev', 'xapi20');
  assert.ok(await ping(host, '10.80.10.1'));
  assert.ok(await ping(host, '10.80.20.1'));
  // Move VLAN 20's far address onto VLAN 10's subnet: unreachable through xapi10 since it is tagged 20.
  await ipIn(sw, 'addr', 'add', '10.80.10.9/24', 'dev', 'trunk.20');
  assert.equal(await ping(host, '10.80.10.9', 1), false);
  await p.vlan_destroy('eth2', 10, 'xapi10');
  assert.equal(await link('eth2.10', { netns: host }), undefined);
  assert.equal(await link('xapi10', { netns: host }), undefined);
});

test('a bond over veth members survives losing one member', async (t) => {
  if (!(await kernelSupports(t, 'bond'))) {
    return t.skip('this kernel has no bonding driver (CONFIG_BONDING)');
  }
  const host = await netns(t, 'bondh');
  const peer = await netns(t, 'bondp');
  const p = networkProcedures({ netns: host });
  await vethInto(host, 'eth3', peer, 'p3');
  await vethInto(host, 'eth4', peer, 'p4');
  await ipIn(peer, 'link', 'add', 'pbr', 'type', 'bridge');
  await ipIn(peer, 'link', 'set', 'p3', 'master', 'pbr');
  await ipIn(peer, 'link', 'set', 'p4', 'master', 'pbr');
  await ipIn(peer, 'link', 'set', 'pbr', 'up');
  await ipIn(peer, 'addr', 'add', '10.81.0.1/24', 'dev', 'pbr');
  await p.bond_create('bond0', ['eth3', 'eth4'], 'active-backup', {}, undefined, 'xapi30', undefined);
  await ipIn(host, 'addr', 'add', '10.81.0.2/24', 'dev', 'xapi30');
  assert.ok(await ping(host, '10.81.0.1'));
  assert.equal(await p.bond_links_up(['eth3', 'eth4']), 2);
  await ipIn(peer, 'link', 'set', 'p3', 'down');
  await new Promise((r) => setTimeout(r, 500));
  assert.ok(await ping(host, '10.81.0.1', 3));
  assert.equal(await p.bond_links_up(['eth3', 'eth4']), 1);
  await p.bond_destroy('bond0', ['eth3', 'eth4']);
  assert.equal(await link('bond0', { netns: host }), undefined);
});

test('bond and VLAN creation on a kernel without support fails cleanly, leaving nothing behind', async (t) => {
  const ns = await netns(t, 'nosup');
  const p = networkProcedures({ netns: ns });
  await ipIn(ns, 'link', 'add', 'eth5', 'type', 'veth', 'peer', 'name', 'eth6');
  const before = (await links({ netns: ns })).map((l) => l.ifname).sort();
  // Each "unsupported" path runs only where the kernel lacks the feature; elsewhere it is reported
  // as a skip with its reason instead of passing without having checked anything.
  await t.test('VLAN creation without 802.1Q support', async (st) => {
    if (await kernelSupports(t, 'vlan'))
      return st.skip('this kernel supports 802.1Q: the unsupported-VLAN path cannot run here');
    await assert.rejects(p.vlan_create('eth5', 7, 'xapi7', undefined));
    assert.deepEqual((await links({ netns: ns })).map((l) => l.ifname).sort(), before);
  });
  await t.test('bond creation without the bonding driver', async (st) => {
    if (await kernelSupports(t, 'bond'))
      return st.skip('this kernel has the bonding driver: the unsupported-bond path cannot run here');
    await assert.rejects(p.bond_create('bond1', ['eth5', 'eth6'], 'lacp', {}, undefined, 'xapi8', undefined));
    assert.deepEqual((await links({ netns: ns })).map((l) => l.ifname).sort(), before);
  });
  // Bad input is refused whatever the kernel.
  await assert.rejects(p.vlan_create('eth5', 5000, 'xapi9', undefined), /invalid VLAN tag/);
  await assert.rejects(
    p.bond_create('bond1', ['eth5'], 'lacp', {}, undefined, 'xapi8', undefined),
    /at least two/,
  );
  assert.deepEqual((await links({ netns: ns })).map((l) => l.ifname).sort(), before);
});
