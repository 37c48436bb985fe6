// SMART disks from the data of Berth's `smartctl` host plugin (src/agent/plugins/builtin/smartctl.ts):
// its `information` call answers {"<device>:<-d type>": <smartctl --json -a output>, ...}.
// Temperature and health are both attributes (for alert conditions) and statistics (for charts).
import * as alertConditions from '../api/alert-conditions.js';
import * as attributes from '../api/attributes.js';
import { PhysicalDisk } from '../api/builtin-resources.js';
import { GlobalId } from '../api/identifiers.js';
import { LINUX_PLUGIN } from '../api/linux-resources.js';
import type { Plugin } from '../api/plugin.js';
import { defineResource, type Resource, setClassPlugin } from '../api/resource.js';
import * as statistics from '../api/statistics.js';
import type { ReportedDevice } from './lsblk.js';
import { isRecord, parseToolJson, ToolOutputError } from './output-error.js';

const TOOL = 'smartctl';

/** Above these (°C) a disk is warned about / in error; typical drive ratings stop at 60–70 °C. */
export const TEMPERATURE_WARN_C = 55;
export const TEMPERATURE_ERROR_C = 65;

export const SmartDisk = defineResource({
  name: 'SmartDisk',
  label: 'SMART disk',
  extends: PhysicalDisk,
  identifier: GlobalId('serial'),
  attributes: {
    serial: attributes.String(),
    model: attributes.String({ optional: true }),
    device: attributes.PosixPath(),
    size: attributes.Bytes({ optional: true }),
    health: attributes.Enum(['PASSED', 'FAILED']),
    temperature_c: attributes.Integer({ optional: true }),
  },
  statistics: {
    temperature: statistics.Gauge(),
    /** 1 while SMART says PASSED, 0 once FAILED. */
    health_ok: statistics.Gauge(),
  },
  alertConditions: [
    alertConditions.ValueCondition('health', {
      errorStates: ['FAILED'],
      message: 'SMART health check failed',
    }),
    alertConditions.UpperBoundCondition('temperature_c', {
      warnBound: TEMPERATURE_WARN_C,
      errorBound: TEMPERATURE_ERROR_C,
      message: 'Disk temperature high',
    }),
  ],
});
setClassPlugin(SmartDisk, LINUX_PLUGIN);

export interface SmartReport {
  key: string;
  device: string;
  serial: string | null;
  model: string | null;
  size: number | null;
  health: 'PASSED' | 'FAILED';
  temperatureC: number | null;
}

/** One smartctl --json -a report (the value under `key` in the host plugin's answer). */
export function parseSmartReport(key: string, report: unknown): SmartReport {
  if (!isRecord(report)) throw new ToolOutputError(TOOL, `${key}: report is not an object`);
  const status = report.smart_status;
  if (!isRecord(status) || typeof status.passed !== 'boolean')
    throw new ToolOutputError(TOOL, `${key}: no smart_status.passed`);
  const dev =
    isRecord(report.device) && typeof report.device.name === 'string'
      ? report.device.name
      : key.split(':')[0];
  if (!dev.startsWith('/dev/'))
    throw new ToolOutputError(TOOL, `${key}: device ${JSON.stringify(dev)} is not under /dev`);
  const temp = isRecord(report.temperature) ? report.temperature.current : undefined;
  const cap = isRecord(report.user_capacity) ? report.user_capacity.bytes : undefined;
  return {
    key,
    device: dev,
    serial:
      typeof report.serial_number === 'string' && report.serial_number.trim()
        ? report.serial_number.trim()
        : null,
    model: typeof report.model_name === 'string' ? report.model_name : null,
    size: Number.isSafeInteger(cap) && (cap as number) >= 0 ? (cap as number) : null,
    health: status.passed ? 'PASSED' : 'FAILED',
    temperatureC: Number.isInteger(temp) ? (temp as number) : null,
  };
}

/** The host plugin's `information` answer (a JSON object of reports) → one entry per device. */
export function parseSmartInformation(text: string): SmartReport[] {
  const doc = parseToolJson(TOOL, text);
  if (!isRecord(doc)) throw new ToolOutputError(TOOL, 'information is not an object of reports');
  return Object.entries(doc).map(([k, v]) => parseSmartReport(k, v));
}

/**
 * Reports each disk with a serial number as a SmartDisk under `parent`, with temperature and health
 * samples (timestamped by the framework). A disk without a serial cannot be identified across hosts and
 * reboots: skipped, returned in `unidentified`.
 */
export function reportSmartDisks(
  plugin: Plugin,
  parent: Resource,
  disks: readonly SmartReport[],
): { disks: Map<string, Resource>; unidentified: SmartReport[] } {
  const out = new Map<string, Resource>();
  const unidentified: SmartReport[] = [];
  for (const d of disks) {
    if (!d.serial) {
      unidentified.push(d);
      continue;
    }
    const { resource } = plugin.updateOrCreate(
      SmartDisk,
      {
        serial: d.serial,
        model: d.model ?? undefined,
        device: d.device,
        size: d.size ?? undefined,
        health: d.health,
        temperature_c: d.temperatureC ?? undefined,
      },
      [parent],
    );
    if (d.temperatureC !== null) resource.temperature = d.temperatureC;
    resource.health_ok = d.health === 'PASSED' ? 1 : 0;
    out.set(d.device, resource);
  }
  return { disks: out, unidentified };
}

/** The device a report was read through: its key's `<device>` part (`/dev/sda` of `/dev/sda:sat`). */
export function smartKeyDevice(key: string): string {
  const i = key.lastIndexOf(':');
  return i > 0 ? key.slice(0, i) : key;
}

/**
 * Makes each SMART disk a parent of the block device (lsblk's drive) at its key's device path, so
 * its alerts reach the drive, its partitions, VGs and mounts. A disk behind a controller
 * (`/dev/bus/0:megaraid,1`) names no block device: it stays under the host only.
 */
export function linkSmartDisks(
  reports: readonly SmartReport[],
  disks: ReadonlyMap<string, Resource>,
  devices: ReadonlyMap<string, ReportedDevice>,
): void {
  for (const r of reports) {
    const disk = disks.get(r.device);
    const drive = devices.get(smartKeyDevice(r.key))?.drive;
    if (disk && drive && drive !== disk) drive.addParent(disk);
  }
}
