// Renders the QEMU command line for a VM (pure: golden-tested). Everything the VM needs at
// runtime lives in its runtime directory: QMP socket, serial console socket, VNC socket, pid file.
import type { InstanceSpec } from '../../shared/noded/instance.js';

export interface RuntimePaths {
  dir: string;
  qmp: string;
  serial: string;
  vnc: string;
  pid: string;
  /** Serial console log (kept after the VM stops). */
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
    consoleLog: `${logRoot}/${uuid}.log`,
  };
}

export type Accel = 'kvm' | 'tcg';

export interface LaunchOptions {
  accel: Accel;
  /** Drop to this user after start-up (QEMU's -runas), if set. */
  runAs?: string;
  /** Start with -incoming defer (resume from a saved state). */
  incoming?: boolean;
}

const MiB = 1024 * 1024;

/** Option values are comma-separated key=value lists: a comma in a value is doubled. */
export const optValue = (s: string) => s.replace(/,/g, ',,');

export function qemuArgs(spec: InstanceSpec, p: RuntimePaths, o: LaunchOptions): string[] {
  const memMiB = Math.max(16, Math.ceil(spec.memoryBytes / MiB));
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
    `${memMiB}M`,
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-vga',
    'std',
    '-vnc',
    `unix:${optValue(p.vnc)}`,
    '-qmp',
    `unix:${optValue(p.qmp)},server=on,wait=off`,
    '-chardev',
    `socket,id=serial0,path=${optValue(p.serial)},server=on,wait=off,logfile=${optValue(p.consoleLog)},logappend=on`,
    '-serial',
    'chardev:serial0',
    '-pidfile',
    p.pid,
    '-sandbox',
    'on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny',
  ];
  if (spec.startPaused) args.push('-S');
  if (spec.kernel) args.push('-kernel', spec.kernel);
  if (spec.initrd) args.push('-initrd', spec.initrd);
  if (spec.cmdline) args.push('-append', spec.cmdline);
  spec.disks.forEach((d, i) => {
    const id = `disk${i}`;
    if (d.cdrom) {
      args.push(
        '-drive',
        `if=none,id=${id},media=cdrom,readonly=on${d.path ? `,file=${optValue(d.path)},format=raw` : ''}`,
      );
      args.push('-device', `ide-cd,drive=${id},id=vbd-${d.device},bus=ide.${Math.min(i, 5)}`);
    } else {
      args.push(
        '-drive',
        `if=none,id=${id},file=${optValue(d.path)},format=${d.format}${d.readonly ? ',readonly=on' : ''},discard=unmap`,
      );
      args.push('-device', `virtio-blk-pci,drive=${id},id=vbd-${d.device}`);
    }
  });
  spec.nics.forEach((n, i) => {
    args.push('-netdev', `tap,id=net${i},ifname=${optValue(n.tap ?? '')},script=no,downscript=no`);
    args.push('-device', `virtio-net-pci,netdev=net${i},mac=${n.mac},id=vif-${n.device}`);
  });
  if (spec.balloon) args.push('-device', 'virtio-balloon-pci,id=balloon0');
  if (o.incoming) args.push('-incoming', 'defer');
  if (o.runAs) args.push('-runas', o.runAs);
  return args;
}
