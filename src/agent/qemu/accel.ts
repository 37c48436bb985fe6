// Which accelerator QEMU should use: KVM where the host can run standard guests with it, TCG
// otherwise. `kvm_pvm` (pagetable-based nested virtualisation) exposes /dev/kvm but hangs stock
// guest kernels, so it counts as unusable. BERTH_ACCEL=kvm|tcg overrides the detection.
import { existsSync } from 'node:fs';
import type { Accel } from './command-line.js';

export interface AccelProbe {
  exists(path: string): boolean;
}

export function detectAccel(
  env: NodeJS.ProcessEnv = process.env,
  probe: AccelProbe = { exists: existsSync },
): Accel {
  const forced = env.BERTH_ACCEL;
  if (forced === 'kvm' || forced === 'tcg') return forced;
  if (!probe.exists('/dev/kvm')) return 'tcg';
  if (probe.exists('/sys/module/kvm_pvm')) return 'tcg';
  if (probe.exists('/sys/module/kvm_intel') || probe.exists('/sys/module/kvm_amd')) return 'kvm';
  return 'tcg';
}
