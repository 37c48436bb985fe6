// What this host can do, for tests that must expect the right behaviour on either kind of host
// (and report a skip with its reason where a feature needs what the host lacks).
import { existsSync, readFileSync } from 'node:fs';

/**
 * device-mapper is usable when the kernel has the driver: /proc/misc lists it. The node
 * /dev/mapper/control alone proves nothing (udev or dmsetup may create it without the driver,
 * and opening it then fails with ENODEV).
 */
export function deviceMapper(): { ok: true } | { ok: false; reason: string } {
  let misc = '';
  try {
    misc = readFileSync('/proc/misc', 'utf8');
  } catch {
    /* no procfs: treat as absent */
  }
  if (!/\sdevice-mapper$/m.test(misc))
    return {
      ok: false,
      reason: existsSync('/dev/mapper/control')
        ? 'no device-mapper: /dev/mapper/control exists but the kernel has no device-mapper driver'
        : 'no device-mapper: /dev/mapper/control missing',
    };
  return { ok: true };
}
