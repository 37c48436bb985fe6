// One host's whole report from the raw outputs of the built-in sources, in dependency order (block
// devices first: LVM PVs, md members and mounts continue from their drives). What an agent device
// plugin's session start/continue (or a controller plugin) calls with the data it gathered.
// Any source's bad output throws: the update fails as a whole (the session's offline alert, the last
// good state kept) rather than a partial report culling the resources of the source that failed.
import type { Plugin } from '../api/plugin.js';
import type { Resource } from '../api/resource.js';
import { type KalrayDpuOutputs, reportKalrayDpu } from './kalray-dpu.js';
import { parseLsblk, reportBlockDevices } from './lsblk.js';
import { parseLvs, parsePvs, parseVgs, reportLvm } from './lvm.js';
import { parseMdadmDetail, reportMdRaid } from './md-raid.js';
import { parseMountinfo, reportMounts } from './mountinfo.js';
import { parseSysClassNet, reportNetInterfaces } from './net-interfaces.js';
import { linkSmartDisks, parseSmartInformation, reportSmartDisks } from './smart.js';
import { parseZfsList, parseZpoolList, reportZfs } from './zfs.js';

/** Raw outputs; a source left out is not reported (its tool is absent on the host). */
export interface LinuxHostOutputs {
  lsblk?: string;
  lvm?: { vgs: string; lvs: string; pvs: string };
  /** `mdadm --detail` of each array /proc/mdstat lists. */
  mdadmDetails?: string[];
  zfs?: { zpoolList: string; zfsList: string };
  smartInformation?: string;
  mountinfo?: string;
  sysClassNet?: unknown;
  /** The agent's kalray_dpu host plugin answers, when a DPU is configured. */
  kalrayDpu?: KalrayDpuOutputs;
}

export function reportLinuxHost(plugin: Plugin, root: Resource, hostId: number, out: LinuxHostOutputs): void {
  const devices = out.lsblk ? reportBlockDevices(plugin, root, hostId, parseLsblk(out.lsblk)) : new Map();
  // Drives by major:minor, for mounts (md arrays and LVs are mounted by their own dev numbers,
  // which lsblk reports as children types this report leaves to their sources).
  const byMajMin = new Map<string, Resource>([...devices.values()].map((d) => [d.device.majMin, d.drive]));
  if (out.mdadmDetails) reportMdRaid(plugin, root, hostId, out.mdadmDetails.map(parseMdadmDetail), devices);
  if (out.lvm)
    reportLvm(
      plugin,
      root,
      hostId,
      { vgs: parseVgs(out.lvm.vgs), lvs: parseLvs(out.lvm.lvs), pvs: parsePvs(out.lvm.pvs) },
      devices,
    );
  if (out.zfs)
    reportZfs(plugin, root, hostId, {
      pools: parseZpoolList(out.zfs.zpoolList),
      datasets: parseZfsList(out.zfs.zfsList),
    });
  if (out.smartInformation) {
    const reports = parseSmartInformation(out.smartInformation);
    // A SMART disk affects the block device it was read through (and what is built on that).
    linkSmartDisks(reports, reportSmartDisks(plugin, root, reports).disks, devices);
  }
  if (out.mountinfo) reportMounts(plugin, parseMountinfo(out.mountinfo), byMajMin);
  if (out.kalrayDpu) reportKalrayDpu(plugin, root, out.kalrayDpu);
  if (out.sysClassNet !== undefined)
    reportNetInterfaces(plugin, root, hostId, parseSysClassNet(out.sysClassNet));
}
