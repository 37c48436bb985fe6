// Renders the QEMU command line for a VM (pure: golden-tested). Everything the VM needs at
// runtime lives in its runtime directory: QMP socket, serial console socket, VNC socket, pid file.
import type { InstanceSpec } from '../../shared/noded/instance.js';

export interface RuntimePaths {
  dir: string;
  qmp: string;
  serial: string;
  vnc: string;
  pid: string;
  /** The VM's current spec: as started, plus hot-plugged devices (read back on adoption). */
  spec: string;
  /** Which PCIe root port holds which device (hot-plug bookkeeping, read back on adoption). */
  ports: string;
  /** QEMU's own stderr (start-up errors). */
  errLog: string;
  /** A second QMP monitor, used only by berth-fdpass to hand QEMU descriptors (getfd). */
  fdpass: string;
  /** Serial console log (kept after the VM stops, outside the runtime dir). */
  consoleLog: string;
}

export function runtimePaths(runRoot: string, logRoot: string, uuid: string): RuntimePaths {
  const dir = `${runRoot}/${uuid}`;
  return {
    dir,
    qmp: `${dir}/qmp.sock`,
    serial: `${dir}/serial.sock`,
    vnc: `${dir}/vnc.sock`,
    pid: `${dir}/qemu.pid`,
    spec: `${dir}/spec.json`,
    ports: `${dir}/ports.json`,
    errLog: `${dir}/qemu.err`,
    fdpass: `${dir}/fdpass.sock`,
    consoleLog: `${logRoot}/${uuid}.log`,
  };
}

export type Accel = 'kvm' | 'tcg';

export interface LaunchOptions {
  accel: Accel;
  /** QEMU drops to this user (-runas NAME, or UID:GID for a per-VM identity) after opening its
   * files, before the guest runs. */
  runAs?: string;
  /** Run QEMU in its own mount namespace with a private /dev (the launcher's --private-dev). */
  privateDev?: boolean;
  /** The VM's own uid/gid (qemu/identity.ts): `-runas UID:GID`, instead of `runAs`. */
  identity?: { uid: number; gid: number };
  /** Start with -incoming defer (resume from a saved state via migrate-incoming). */
  incoming?: boolean;
}

const MiB = 1024 * 1024;

/** QemuOpts values are comma-separated key=value lists: a comma inside a value is doubled. */
export const optValue = (s: string) => s.replace(/,/g, ',,');

/** -m in MiB: the static maximum (the balloon lowers the guest to its target after start). */
export function memoryMiB(spec: InstanceSpec): number {
  return Math.max(16, Math.ceil(Math.max(spec.memoryBytes, spec.memoryMaxBytes || 0) / MiB));
}

/**
 * The seccomp filter. Under -runas QEMU 7.2 installs the filter before it drops privileges, so the
 * set*uid calls must stay allowed (elevateprivileges=allow); after the drop they can only lower
 * privileges further. Without -runas (QEMU as root) they are denied.
 */
export function sandbox(runAs?: string): string {
  return `on,obsolete=deny,elevateprivileges=${runAs ? 'allow' : 'deny'},spawn=deny,resourcecontrol=deny`;
}

function vncArgs(spec: InstanceSpec, p: RuntimePaths): string[] {
  switch (spec.vnc ?? 'unix') {
    case 'none':
      return [];
    case 'localhost':
      // First free display 0..99 (ports 5900-5999); the port is read back with query-vnc.
      return ['-vnc', '127.0.0.1:0,to=99'];
    default:
      return ['-vnc', `unix:${optValue(p.vnc)}`];
  }
}

/** Spare PCIe root ports every VM gets for hot-plugged disks and NICs (q35's root bus itself
 * does not take hot-plugged devices). */
export const HOTPLUG_PORTS = 8;

/** QEMU ids of a disk's or NIC's device (pure; shared by boot and hot-plug). */
export const diskDeviceId = (device: string) => `vbd-${device}`;
export const nicDeviceId = (device: string) => `vif-${device}`;

/**
 * The PCIe root ports of a VM (pure): one per virtio disk and NIC present at boot (so each can be
 * hot-unplugged later), then HOTPLUG_PORTS spares `hp0…`. Packed eight functions to a slot from
 * slot 0x10, as libvirt does on q35.
 */
export function rootPorts(spec: InstanceSpec): { id: string; device?: string }[] {
  const ports: { id: string; device?: string }[] = [];
  for (const d of spec.disks)
    if (!d.cdrom) ports.push({ id: `rp-${diskDeviceId(d.device)}`, device: diskDeviceId(d.device) });
  for (const n of spec.nics) ports.push({ id: `rp-${nicDeviceId(n.device)}`, device: nicDeviceId(n.device) });
  for (let i = 0; i < HOTPLUG_PORTS; i++) ports.push({ id: `hp${i}` });
  return ports;
}

function portArgs(spec: InstanceSpec): string[] {
  return rootPorts(spec).flatMap((p, k) => {
    const addr = `0x${(0x10 + Math.floor(k / 8)).toString(16)}.0x${k % 8}`;
    const multi = k % 8 === 0 ? ',multifunction=on' : '';
    return [
      '-device',
      `pcie-root-port,id=${optValue(p.id)},bus=pcie.0,chassis=${k + 1},addr=${addr}${multi}`,
    ];
  });
}

function diskArgs(spec: InstanceSpec): string[] {
  const args: string[] = [];
  let ide = 0; // q35's AHCI controller has ports ide.0 … ide.5
  for (const d of spec.disks) {
    const drive = `drive-vbd-${d.device}`;
    const boot = d.bootable ? ',bootindex=1' : '';
    if (d.cdrom) {
      const media = d.path ? `,file=${optValue(d.path)},format=raw` : '';
      args.push('-drive', `if=none,id=${drive},media=cdrom,readonly=on${media}`);
      args.push('-device', `ide-cd,drive=${drive},id=vbd-${d.device},bus=ide.${ide++}${boot}`);
    } else {
      // auto-read-only=off: -drive defaults it on, and then QEMU reopens the image by name
      // whenever write permission comes or goes (suspend, resume) — after -runas, as a user that
      // may not reach it. Off, the fd opened at start serves for good (as blockdev-add's default).
      const ro = d.readonly ? ',readonly=on' : ',discard=unmap,auto-read-only=off';
      args.push('-drive', `if=none,id=${drive},file=${optValue(d.path)},format=${d.format}${ro}`);
      const id = diskDeviceId(d.device);
      args.push('-device', `virtio-blk-pci,drive=${drive},id=${id},bus=rp-${id}${boot}`);
    }
  }
  return args;
}

/** The descriptor a resuming QEMU inherits its saved state on (`migrate-incoming fd:3`). */
export const INCOMING_FD = 3;
/** The first descriptor of the boot-time TAPs (one per NIC, in spec order). */
export const TAP_FD_BASE = 4;

/** Which TAP each boot-time NIC's descriptor is (pure): the launcher opens them onto these. */
export function tapFds(spec: InstanceSpec): { tap: string; fd: number }[] {
  return spec.nics.map((n, i) => ({ tap: n.tap ?? '', fd: TAP_FD_BASE + i }));
}

function nicArgs(spec: InstanceSpec): string[] {
  const args: string[] = [];
  const fds = tapFds(spec);
  spec.nics.forEach((n, i) => {
    const netdev = `netdev-vif-${n.device}`;
    // The network layer made the TAP and the agent's launcher opened it (QEMU, unprivileged
    // later, never opens /dev/net/tun): QEMU inherits it as a descriptor.
    args.push('-netdev', `tap,id=${netdev},fd=${fds[i].fd}`);
    const mtu = n.mtu ? `,host_mtu=${n.mtu}` : '';
    const id = nicDeviceId(n.device);
    args.push('-device', `virtio-net-pci,netdev=${netdev},mac=${n.mac},id=${id},bus=rp-${id}${mtu}`);
  });
  return args;
}

/** What `-runas` gets (pure): the VM's own UID:GID, or the shared user's name. */
export function runAsArg(o: LaunchOptions): string | undefined {
  return o.identity ? `${o.identity.uid}:${o.identity.gid}` : o.runAs;
}

export function qemuArgs(spec: InstanceSpec, p: RuntimePaths, o: LaunchOptions): string[] {
  const runAs = runAsArg(o);
  const args: string[] = [
    '-name',
    `guest=${optValue(spec.name || spec.uuid)},debug-threads=on`,
    '-uuid',
    spec.uuid,
    '-machine',
    `q35,accel=${o.accel}`,
    '-cpu',
    o.accel === 'kvm' ? 'host' : 'max',
    '-smp',
    `${spec.vcpus},maxcpus=${Math.max(spec.vcpus, spec.vcpusMax)}`,
    '-m',
    `${memoryMiB(spec)}M`,
    '-nodefaults',
    '-no-user-config',
    '-msg',
    'timestamp=on',
    '-display',
    'none',
    '-vga',
    'std',
    ...vncArgs(spec, p),
    '-chardev',
    `socket,id=qmp,path=${optValue(p.qmp)},server=on,wait=off`,
    '-mon',
    'chardev=qmp,mode=control',
    // The agent's berth-fdpass passes descriptors here (getfd needs SCM_RIGHTS; the agent's own
    // connection above is Node's) and uses them on this same monitor (netdev_add, migrate).
    '-chardev',
    `socket,id=fdpass,path=${optValue(p.fdpass)},server=on,wait=off`,
    '-mon',
    'chardev=fdpass,mode=control',
    // A socket chardev with a log file: an interactive console and a persistent log at once.
    '-chardev',
    `socket,id=serial0,path=${optValue(p.serial)},server=on,wait=off,logfile=${optValue(p.consoleLog)},logappend=on`,
    '-serial',
    'chardev:serial0',
    '-pidfile',
    p.pid,
    '-sandbox',
    sandbox(runAs),
    // Always start stopped: the agent attaches, sets the balloon target, then sends `cont`.
    '-S',
  ];
  if (spec.kernel) args.push('-kernel', spec.kernel);
  if (spec.initrd) args.push('-initrd', spec.initrd);
  if (spec.cmdline) args.push('-append', spec.cmdline);
  args.push(...portArgs(spec), ...diskArgs(spec), ...nicArgs(spec));
  if (spec.balloon) args.push('-device', 'virtio-balloon-pci,id=balloon0');
  if (o.incoming) args.push('-incoming', 'defer');
  if (runAs) args.push('-runas', runAs);
  return args;
}

/**
 * The launcher's argv (pure): berth-fdpass opens the boot-time TAPs onto their descriptors, then
 * execs QEMU with `args`.
 */
export function launcherArgs(
  spec: InstanceSpec,
  qemuBinary: string,
  args: string[],
  o: Pick<LaunchOptions, 'accel' | 'privateDev'> = { accel: 'tcg' },
): string[] {
  const ns = o.privateDev ? ['--private-dev', ...devNodes(spec, o.accel).flatMap((d) => ['--dev', d])] : [];
  return [
    'exec',
    ...tapFds(spec).flatMap((t) => ['--tap', `${t.tap}=${t.fd}`]),
    ...ns,
    '--',
    qemuBinary,
    ...args,
  ];
}

/**
 * The device nodes a VM's private /dev holds besides null, zero, full, random and urandom (pure):
 * its disks that are block devices (LVM volumes, loop devices) and /dev/kvm under KVM. No
 * /dev/net/tun (TAPs come as descriptors), no /dev/pts, /dev/shm, /dev/mem or other disks.
 */
export function devNodes(spec: InstanceSpec, accel: Accel): string[] {
  const nodes = spec.disks.map((d) => d.path).filter((p) => p.startsWith('/dev/'));
  if (accel === 'kvm') nodes.push('/dev/kvm');
  return [...new Set(nodes)];
}
