// Structural validation of an instance spec received over the RPC (pure). Anything that reaches
// the QEMU command line is checked here, so bad input is a clear INVALID_VALUE, never a QEMU
// start-up failure or an option injected through a value.
import { XenApiError } from '../../shared/errors.js';
import type { DiskSpec, InstanceSpec, NicSpec } from '../../shared/noded/instance.js';

export const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DEVICE_RE = /^[A-Za-z0-9_.-]{1,32}$/;
const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const IFNAME_RE = /^[A-Za-z0-9_.-]{1,15}$/;
const MiB = 1024 * 1024;
const MAX_MEMORY = 4 * 1024 * 1024 * MiB;

const bad = (field: string, value: unknown): never => {
  throw new XenApiError('INVALID_VALUE', [field, typeof value === 'string' ? value : JSON.stringify(value)]);
};

function absolutePath(field: string, v: unknown): void {
  if (typeof v !== 'string' || !v.startsWith('/') || v.includes('\0') || v.length > 4096) bad(field, v);
}

function uniqueDevices(field: string, devices: string[]): void {
  const seen = new Set<string>();
  for (const d of devices) {
    if (seen.has(d)) bad(field, `duplicate device ${d}`);
    seen.add(d);
  }
}

/** The device name of a hot-plug request (becomes part of a QEMU id). */
export function checkDeviceName(field: string, d: unknown): void {
  if (typeof d !== 'string' || !DEVICE_RE.test(d)) bad(field, d);
}

/** One disk of a spec or a hot-plug request. */
export function checkDisk(d: DiskSpec): void {
  if (!d || typeof d !== 'object') bad('disks', d);
  if (typeof d.device !== 'string' || !DEVICE_RE.test(d.device)) bad('disk device', d.device);
  if (d.cdrom) {
    if (d.path !== '') absolutePath('disk path', d.path);
  } else {
    absolutePath('disk path', d.path);
    if (d.format !== 'qcow2' && d.format !== 'raw') bad('disk format', d.format);
  }
  if (typeof d.readonly !== 'boolean') bad('disk readonly', d.readonly);
}

/** One NIC of a spec or a hot-plug request. */
export function checkNic(n: NicSpec): void {
  if (!n || typeof n !== 'object') bad('nics', n);
  if (typeof n.device !== 'string' || !DEVICE_RE.test(n.device)) bad('nic device', n.device);
  if (typeof n.mac !== 'string' || !MAC_RE.test(n.mac)) bad('nic mac', n.mac);
  if (typeof n.tap !== 'string' || !IFNAME_RE.test(n.tap)) bad('nic tap', n.tap);
  if (n.mtu !== undefined && (!Number.isInteger(n.mtu) || n.mtu < 68 || n.mtu > 65535)) bad('nic mtu', n.mtu);
}

/** Throws INVALID_VALUE [field, value] for the first problem found. */
export function checkSpec(spec: InstanceSpec): void {
  if (!spec || typeof spec !== 'object' || Array.isArray(spec)) bad('spec', spec);
  if (typeof spec.uuid !== 'string' || !UUID_RE.test(spec.uuid)) bad('uuid', spec.uuid);
  if (typeof spec.name !== 'string' || spec.name.length > 255 || /[\0\n]/.test(spec.name))
    bad('name', spec.name);
  if (!Number.isInteger(spec.vcpus) || spec.vcpus < 1 || spec.vcpus > 128) bad('vcpus', spec.vcpus);
  if (!Number.isInteger(spec.vcpusMax) || spec.vcpusMax > 128) bad('vcpusMax', spec.vcpusMax);
  if (!Number.isSafeInteger(spec.memoryBytes) || spec.memoryBytes < 16 * MiB || spec.memoryBytes > MAX_MEMORY)
    bad('memoryBytes', spec.memoryBytes);
  if (
    !Number.isSafeInteger(spec.memoryMaxBytes) ||
    spec.memoryMaxBytes < 0 ||
    spec.memoryMaxBytes > MAX_MEMORY
  )
    bad('memoryMaxBytes', spec.memoryMaxBytes);
  if (spec.kernel !== undefined) absolutePath('kernel', spec.kernel);
  if (spec.initrd !== undefined) absolutePath('initrd', spec.initrd);
  if (spec.cmdline !== undefined && (typeof spec.cmdline !== 'string' || /[\0\n]/.test(spec.cmdline)))
    bad('cmdline', spec.cmdline);
  if (typeof spec.balloon !== 'boolean') bad('balloon', spec.balloon);
  if (typeof spec.startPaused !== 'boolean') bad('startPaused', spec.startPaused);
  if (spec.vnc !== undefined && !['unix', 'localhost', 'none'].includes(spec.vnc)) bad('vnc', spec.vnc);

  if (!Array.isArray(spec.disks) || spec.disks.length > 32) bad('disks', spec.disks);
  let cdroms = 0;
  for (const d of spec.disks) {
    checkDisk(d);
    if (d.cdrom && ++cdroms > 6) bad('disks', 'more than 6 CD drives');
  }
  uniqueDevices(
    'disk device',
    spec.disks.map((d) => d.device),
  );

  if (!Array.isArray(spec.nics) || spec.nics.length > 16) bad('nics', spec.nics);
  for (const n of spec.nics) checkNic(n);
  uniqueDevices(
    'nic device',
    spec.nics.map((n) => n.device),
  );
}
