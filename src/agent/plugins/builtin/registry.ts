// The built-in plugins, one module each.
import type { BuiltinPlugin } from '../types.js';
import { hyperthreading } from './hyperthreading.js';
import { kalrayDpu } from './kalray_dpu.js';
import { lsblk } from './lsblk.js';
import { lvm } from './lvm.js';
import { netdata } from './netdata.js';
import { raid } from './raid.js';
import { smartctl } from './smartctl.js';
import { updater } from './updater.js';
import { zfs } from './zfs.js';

export const BUILTIN_PLUGINS: readonly BuiltinPlugin[] = [
  zfs,
  lvm,
  raid,
  updater,
  lsblk,
  smartctl,
  netdata,
  hyperthreading,
  kalrayDpu,
];
