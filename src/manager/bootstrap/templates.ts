// Default templates, created at start-up when missing. "Berth test guest" boots the small guest
// tools/build-guest.sh builds (direct kernel boot, serial console), so right after set-up a user
// can `vm-install` from it and start the VM.
import { join } from 'node:path';
import type { Database } from '../db/database.js';
import { newVmMetrics, refreshAllowedOperations } from '../vm/vm-state.js';
import { baseVmRecord } from './vm-record.js';

const MiB = 1024 * 1024;

/** Xen Orchestra parses recommendations and needs at least two <restriction> elements. */
const RECOMMENDATIONS =
  '<restrictions><restriction field="memory-static-max" max="137438953472" /><restriction field="vcpus-max" max="32" />' +
  '<restriction property="number-of-vbds" max="16" /><restriction property="number-of-vifs" max="7" /></restrictions>';

export interface TemplateSpec {
  name: string;
  description: string;
  record: Record<string, unknown>;
}

export function defaultTemplates(guestDir: string): TemplateSpec[] {
  return [
    {
      name: 'Berth test guest',
      description:
        'A small Linux guest (Debian kernel, busybox initramfs) booted directly from the host; serial console on ttyS0.',
      record: {
        memory_static_max: 256 * MiB,
        memory_dynamic_max: 256 * MiB,
        memory_dynamic_min: 256 * MiB,
        memory_static_min: 128 * MiB,
        VCPUs_max: 1,
        VCPUs_at_startup: 1,
        PV_kernel: join(guestDir, 'vmlinuz'),
        PV_ramdisk: join(guestDir, 'initrd.img'),
        PV_args: 'console=ttyS0 panic=-1',
        domain_type: 'hvm',
        HVM_boot_policy: '',
        platform: { 'cores-per-socket': '1', acpi: '1', apic: 'true' },
        other_config: { default_template: 'true', linux_template: 'true', 'berth-guest': 'test' },
      },
    },
    {
      name: 'Other install media',
      description: 'An empty VM template to install an operating system from an ISO.',
      record: {
        memory_static_max: 1024 * MiB,
        memory_dynamic_max: 1024 * MiB,
        memory_dynamic_min: 1024 * MiB,
        memory_static_min: 512 * MiB,
        VCPUs_max: 2,
        VCPUs_at_startup: 1,
        domain_type: 'hvm',
        HVM_boot_policy: 'BIOS order',
        HVM_boot_params: { order: 'dc' },
        platform: {
          'cores-per-socket': '1',
          acpi: '1',
          apic: 'true',
          nx: 'true',
          pae: 'true',
          viridian: 'false',
        },
        other_config: { default_template: 'true', 'install-methods': 'cdrom' },
      },
    },
  ];
}

export function ensureDefaultTemplates(db: Database, guestDir: string): void {
  db.transaction(() => {
    const existing = new Map<string, string>();
    for (const [ref, vm] of db.all('VM'))
      if (vm.is_default_template) existing.set(String(vm.name_label), ref);
    for (const t of defaultTemplates(guestDir)) {
      const ref = existing.get(t.name);
      if (ref) {
        // Keep paths current (the guest directory is configurable).
        db.update('VM', ref, { PV_kernel: t.record.PV_kernel ?? '', PV_ramdisk: t.record.PV_ramdisk ?? '' });
        continue;
      }
      const created = db.create(
        'VM',
        baseVmRecord({
          ...t.record,
          name_label: t.name,
          name_description: t.description,
          is_a_template: true,
          is_default_template: true,
          recommendations: RECOMMENDATIONS,
          domid: -1,
          metrics: newVmMetrics(db),
        }),
      );
      refreshAllowedOperations(db, created);
    }
  });
}
