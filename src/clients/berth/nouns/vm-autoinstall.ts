// `berth vm autoinstall -k KERNEL -i INITRD -c CMDLINE`: oVirtCmd's unattended install by a
// direct kernel boot. Berth boots a kernel from the host through PV_kernel / PV_ramdisk /
// PV_args (the test guest's template does), so the algorithm is the seed's over those fields:
// stop if needed, save them, set the given ones, start, wait until running (`booted, run
// installing`), wait until the installer powers the guest off, restore, start again (`done`).
import type { Api } from '../api.js';
import { CliError, EXIT_USAGE } from '../errors.js';
import type { VerbSpec } from '../spec.js';
import { optText, single, waitPowerState } from './compute-common.js';

const FIELDS = ['PV_kernel', 'PV_ramdisk', 'PV_args'] as const;
type Boot = Record<(typeof FIELDS)[number], string>;

async function readBoot(api: Api, vm: string): Promise<Boot> {
  const out = {} as Boot;
  for (const f of FIELDS) out[f] = String((await api.call(`VM.get_${f}`, vm)) ?? '');
  return out;
}

async function writeBoot(api: Api, vm: string, boot: Boot): Promise<void> {
  for (const f of FIELDS) await api.call(`VM.set_${f}`, vm, boot[f]);
}

export function vmAutoinstallVerb(): VerbSpec {
  return {
    name: 'autoinstall',
    summary: 'boot a kernel/initrd with an install command line, wait for the install, boot back',
    target: 'one',
    long: true,
    usesTemplate: true,
    options: [
      { short: 'k', long: 'kernel', kind: 'value', help: 'kernel path on the host', metavar: 'KERNEL' },
      { short: 'i', long: 'initrd', kind: 'value', help: 'initrd path on the host', metavar: 'INITRD' },
      { short: 'c', long: 'cmdline', kind: 'value', help: 'kernel command line', metavar: 'CMDLINE' },
    ],
    examples: [
      'berth vm -n web01 autoinstall -T samples/berth/pxekernel.yaml -V osversion 12 -V hostname web01',
    ],
    run: async (ctx, target) => {
      const vm = single(target).ref;
      const kernel = optText(ctx.opts, 'kernel')?.trim();
      if (!kernel) throw new CliError('autoinstall needs a kernel (-k KERNEL)', EXIT_USAGE);
      return install(ctx.api, vm, {
        PV_kernel: kernel,
        PV_ramdisk: optText(ctx.opts, 'initrd')?.trim() ?? '',
        PV_args: optText(ctx.opts, 'cmdline')?.trim() ?? '',
      });
    },
  };
}

/** The steps, printing a line as each phase is reached. */
async function* install(api: Api, vm: string, boot: Boot): AsyncGenerator<string> {
  if ((await api.call('VM.get_power_state', vm)) !== 'Halted') {
    await api.call('VM.hard_shutdown', vm);
    await waitPowerState(api, vm, 'Halted');
  }
  const saved = await readBoot(api, vm);
  await writeBoot(api, vm, boot);
  try {
    await api.call('VM.start', vm, false, false);
    await waitPowerState(api, vm, 'Running');
    yield 'booted, run installing';
    await waitPowerState(api, vm, 'Halted');
  } finally {
    await writeBoot(api, vm, saved);
  }
  await api.call('VM.start', vm, false, false);
  yield 'done';
}
