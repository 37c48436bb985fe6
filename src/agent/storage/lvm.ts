// LVM commands for the lvm SR, with pure parsers of their JSON reports. Sizes are asked for in
// bytes (`--units b --nosuffix`) so no rounding happens here.
import { runChecked } from '../../shared/exec.js';

export type ReportRow = Record<string, string>;

/** Rows of `<cmd> --reportformat json`: {"report":[{"<key>":[{...}]}]}. */
export function parseLvmReport(json: string, key: 'pv' | 'vg' | 'lv'): ReportRow[] {
  const o = JSON.parse(json) as { report?: Record<string, ReportRow[]>[] };
  return (o.report ?? []).flatMap((r) => r[key] ?? []);
}

export const bytes = (s: string | undefined) =>
  Number.parseInt(String(s ?? '0').replace(/[^0-9]/g, ''), 10) || 0;

const report = ['--reportformat', 'json', '--units', 'b', '--nosuffix'];

export async function pvs(devices: readonly string[] = []): Promise<ReportRow[]> {
  const out = await runChecked('pvs', [
    ...report,
    '-o',
    'pv_name,vg_name,pv_size,pv_free,vg_uuid',
    ...devices,
  ]);
  return parseLvmReport(out, 'pv');
}

export async function vgs(vg?: string): Promise<ReportRow[]> {
  const out = await runChecked('vgs', [
    ...report,
    '-o',
    'vg_name,vg_size,vg_free,vg_extent_size,lv_count',
    ...(vg ? [vg] : []),
  ]);
  return parseLvmReport(out, 'vg');
}

export async function lvs(vg: string): Promise<ReportRow[]> {
  const out = await runChecked('lvs', [...report, '-o', 'lv_name,lv_size,lv_attr', vg]);
  return parseLvmReport(out, 'lv');
}

export const pvcreate = (devs: readonly string[]) => runChecked('pvcreate', ['-y', '-ff', ...devs]);
export const pvremove = (devs: readonly string[]) => runChecked('pvremove', ['-y', '-ff', ...devs]);
export const vgcreate = (vg: string, devs: readonly string[]) => runChecked('vgcreate', ['-y', vg, ...devs]);
export const vgremove = (vg: string) => runChecked('vgremove', ['-y', '-f', vg]);
export const vgActivate = (vg: string, on: boolean) => runChecked('vgchange', ['-a', on ? 'y' : 'n', vg]);
export const lvcreate = (vg: string, lv: string, size: number) =>
  runChecked('lvcreate', ['-y', '-W', 'n', '-Z', 'n', '-L', `${size}b`, '-n', lv, vg]);
export const lvremove = (vg: string, lv: string) => runChecked('lvremove', ['-y', '-f', `${vg}/${lv}`]);
export const lvextend = (vg: string, lv: string, size: number) =>
  runChecked('lvextend', ['-L', `${size}b`, `${vg}/${lv}`]);
export const lvrename = (vg: string, from: string, to: string) => runChecked('lvrename', [vg, from, to]);
