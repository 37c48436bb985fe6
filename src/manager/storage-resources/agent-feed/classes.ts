// The classes an agent-fed session declares at open: every loaded class (linux's included) and the
// built-in sources' own linux classes, which live beside their parsers rather than in
// api/linux-resources.ts (SmartDisk, LinuxNetworkInterface, the Kalray DPU's).
import type { AnyResourceClass } from '../../../shared/storage-resources/api/resource.js';
import { LINUX_PLUGIN } from '../../../shared/storage-resources/api/linux-resources.js';
import { KALRAY_DPU_CLASSES } from '../../../shared/storage-resources/builtin/kalray-dpu.js';
import { LinuxNetworkInterface } from '../../../shared/storage-resources/builtin/net-interfaces.js';
import { SmartDisk } from '../../../shared/storage-resources/builtin/smart.js';
import { classInfo } from '../../../shared/storage-resources/loader.js';
import type { ResourceClassInfo } from '../../../shared/storage-resources/session.js';

export const BUILTIN_SOURCE_CLASSES: AnyResourceClass[] = [
  SmartDisk as AnyResourceClass,
  LinuxNetworkInterface as AnyResourceClass,
  ...KALRAY_DPU_CLASSES,
];

export function agentFeedClasses(loaded: readonly ResourceClassInfo[]): ResourceClassInfo[] {
  const out = [...loaded];
  for (const cls of BUILTIN_SOURCE_CLASSES)
    if (!out.some((c) => c.plugin === LINUX_PLUGIN && c.name === cls.meta.name))
      out.push(classInfo(LINUX_PLUGIN, cls, []));
  return out;
}
