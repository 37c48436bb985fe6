// `berth vm`: virtual machines (XenAPI VMs that are neither templates, snapshots nor control
// domains), with oVirtCmd's vm verbs mapped onto XenAPI and what an xe user expects beside them.
// Bigger verbs live in their own files (vm-create, vm-autoinstall, vm-devices, vm-xva).
import type { Api, ApiObject } from '../api.js';
import { CliError, EXIT_USAGE, notFoundError } from '../errors.js';
import { parseSize } from '../size.js';
import type { NounSpec, VerbSpec } from '../spec.js';
import { exportVerb } from '../verbs/export.js';
import { listVerb } from '../verbs/list.js';
import {
  isPlainVm,
  many,
  NULL_REF,
  optText,
  refOf,
  runTask,
  single,
  sleep,
  waitPowerState,
} from './compute-common.js';
import { vmAutoinstallVerb } from './vm-autoinstall.js';
import { vmCreateVerb } from './vm-create.js';
import { vmDisksVerb, vmNicsVerb } from './vm-devices.js';
import { vmCopyVerb } from './vm-copy.js';
import { xvaExportVerb, xvaImportVerb } from './vm-xva.js';

export const POWER_STATES = ['Halted', 'Paused', 'Running', 'Suspended'];
const MIGRATE_OPS = new Set(['migrate_send', 'pool_migrate']);

/** The location of the VM's console of `protocol` (rfb: graphical, vt100: text). */
export async function consoleLocation(api: Api, vm: ApiObject, protocol = 'rfb'): Promise<string> {
  const state = String(await api.call('VM.get_power_state', vm.ref));
  if (state !== 'Running' && state !== 'Paused') throw new CliError('No console available, not started');
  for (const c of (await api.call('VM.get_consoles', vm.ref)) as string[]) {
    const rec = (await api.call('console.get_record', c)) as Record<string, unknown>;
    if (rec.protocol === protocol) return String(rec.location);
  }
  throw new CliError('No matching console found');
}

/** `vm delete`: stop if needed, then the VM and (unless detachOnly) the disks only it used. */
export async function deleteVm(api: Api, vm: string, detachOnly: boolean): Promise<void> {
  if ((await api.call('VM.get_power_state', vm)) !== 'Halted') {
    await api.call('VM.hard_shutdown', vm);
    await waitPowerState(api, vm, 'Halted');
  }
  const vdis: string[] = [];
  if (!detachOnly)
    for (const vbd of (await api.call('VM.get_VBDs', vm)) as string[]) {
      const rec = (await api.call('VBD.get_record', vbd)) as Record<string, unknown>;
      if (rec.type === 'Disk' && rec.VDI && rec.VDI !== NULL_REF) vdis.push(String(rec.VDI));
    }
  await api.call('VM.destroy', vm);
  // A disk another VM still uses stays.
  for (const vdi of vdis)
    if (((await api.call('VDI.get_VBDs', vdi)) as string[]).length === 0) await api.call('VDI.destroy', vdi);
}

function startVerb(): VerbSpec {
  return {
    name: 'start',
    summary: 'start the VM (on -H HOST, else where placement picks)',
    target: 'one',
    long: true,
    options: [
      { short: 'c', long: 'console', kind: 'flag', help: "print the console's location once started" },
      { short: 'H', long: 'host', kind: 'value', help: 'host to start on', metavar: 'HOST' },
      { short: 'p', long: 'paused', kind: 'flag', help: 'start paused' },
    ],
    run: async (ctx, target) => {
      const vm = single(target);
      const paused = Boolean(ctx.opts.paused);
      const host = optText(ctx.opts, 'host');
      if (host)
        await runTask(
          ctx.api,
          ctx.out,
          'start',
          'VM.start_on',
          vm.ref,
          await refOf(ctx.api, 'host', host),
          paused,
          false,
        );
      else await runTask(ctx.api, ctx.out, 'start', 'VM.start', vm.ref, paused, false);
      return ctx.opts.console ? consoleLocation(ctx.api, vm) : undefined;
    },
  };
}

function simple(name: string, summary: string, method: string, aliases?: string[]): VerbSpec {
  return {
    name,
    aliases,
    summary,
    target: 'one',
    long: true,
    run: async (ctx, target) => {
      await runTask(ctx.api, ctx.out, name, method, single(target).ref);
      return undefined;
    },
  };
}

function rebootVerb(): VerbSpec {
  return {
    name: 'reboot',
    summary: 'reboot the VM (clean: ACPI; -f: reset)',
    target: 'one',
    long: true,
    options: [
      { short: 'f', long: 'force', kind: 'flag', help: 'hard reboot (reset) instead of a clean one' },
    ],
    run: async (ctx, target) => {
      const method = ctx.opts.force ? 'VM.hard_reboot' : 'VM.clean_reboot';
      await runTask(ctx.api, ctx.out, 'reboot', method, single(target).ref);
      return undefined;
    },
  };
}

function suspendVerb(): VerbSpec {
  return {
    name: 'suspend',
    summary: 'suspend the VM to disk (waits until Suspended unless -a)',
    target: 'one',
    long: true,
    options: [{ short: 'a', long: 'async', kind: 'flag', help: "don't wait for completion" }],
    run: async (ctx, target) => {
      const vm = single(target).ref;
      if (ctx.opts.async) {
        await ctx.api.callAsync('VM.suspend', vm);
        return undefined;
      }
      await runTask(ctx.api, ctx.out, 'suspend', 'VM.suspend', vm);
      await waitPowerState(ctx.api, vm, 'Suspended');
      return undefined;
    },
  };
}

function resumeVerb(): VerbSpec {
  return {
    name: 'resume',
    summary: 'resume a suspended VM',
    target: 'one',
    long: true,
    options: [{ short: 'p', long: 'paused', kind: 'flag', help: 'resume paused' }],
    run: async (ctx, target) => {
      await runTask(
        ctx.api,
        ctx.out,
        'resume',
        'VM.resume',
        single(target).ref,
        Boolean(ctx.opts.paused),
        false,
      );
      return undefined;
    },
  };
}

function migrateVerb(): VerbSpec {
  return {
    name: 'migrate',
    summary: 'live-migrate the VM to another host of the pool (VM.pool_migrate)',
    target: 'one',
    long: true,
    options: [
      { short: 'H', long: 'host', kind: 'value', help: 'destination host', metavar: 'HOST' },
      {
        short: 'b',
        long: 'bandwidth',
        kind: 'value',
        help: 'cap the transfer at SIZE bytes per second (64M)',
        metavar: 'SIZE',
      },
    ],
    run: async (ctx, target) => {
      const host = optText(ctx.opts, 'host');
      if (!host) throw new CliError('migrate needs a destination host (-H HOST)', EXIT_USAGE);
      const options: Record<string, string> = { live: 'true' };
      const bandwidth = optText(ctx.opts, 'bandwidth');
      if (bandwidth !== undefined) {
        const bytes = parseSize(bandwidth);
        if (bytes <= 0) throw new CliError(`invalid bandwidth '${bandwidth}'`, EXIT_USAGE);
        // Berth's pool_migrate option (docs/migration.md): QEMU's bandwidth cap.
        options.berth_bandwidth = String(bytes);
      }
      const ref = await refOf(ctx.api, 'host', host);
      await runTask(ctx.api, ctx.out, 'migrate', 'VM.pool_migrate', single(target).ref, ref, options);
      return true;
    },
  };
}

function deleteVerb(): VerbSpec {
  return {
    name: 'delete',
    aliases: ['remove'],
    summary: 'remove the VM and its disks (stopped first if running; -d keeps the disks)',
    target: 'one',
    options: [{ short: 'd', long: 'detach_only', kind: 'flag', help: 'keep the disks' }],
    run: async (ctx, target) => {
      await deleteVm(ctx.api, single(target).ref, Boolean(ctx.opts.detach_only));
      return true;
    },
  };
}

function ticketVerb(): VerbSpec {
  return {
    name: 'ticket',
    aliases: ['console'],
    summary: "print the location of the VM's console (HTTP CONNECT or WebSocket with a session)",
    target: 'one',
    options: [
      {
        short: 'p',
        long: 'protocol',
        kind: 'value',
        help: 'rfb (graphical, default) or vt100 (text)',
        metavar: 'PROTOCOL',
      },
    ],
    run: async (ctx, target) =>
      consoleLocation(ctx.api, single(target), optText(ctx.opts, 'protocol') ?? 'rfb'),
  };
}

function statisticsVerb(): VerbSpec {
  return {
    name: 'statistics',
    summary: "the running VM's data sources: `<name>: <value> <unit> (<type>)`",
    target: 'one',
    run: async (ctx, target) => {
      const { dataSourceSpec } = await import('../../../shared/rrd/catalog.js');
      const rows = (await ctx.api.call('VM.get_data_sources', single(target).ref)) as Record<
        string,
        unknown
      >[];
      return rows
        .filter((r) => r.enabled)
        .map((r) => {
          const name = String(r.name_label);
          const type = dataSourceSpec('vm', name)?.type ?? 'GAUGE';
          return `${name}: ${Number(r.value)} ${r.units} (${type})`;
        })
        .join('\n');
    },
  };
}

function waitforVerb(): VerbSpec {
  return {
    name: 'waitfor',
    summary: 'wait until the VM is in power state STATE (halted, running, paused, suspended)',
    target: 'one',
    options: [
      { short: 's', long: 'status', kind: 'value', help: 'the power state to wait for', metavar: 'STATE' },
      {
        short: 't',
        long: 'timeout',
        kind: 'value',
        type: 'int',
        help: 'give up after N seconds (default: never)',
        metavar: 'N',
      },
    ],
    run: async (ctx, target) => {
      const wanted = optText(ctx.opts, 'status');
      if (!wanted) throw new CliError('No status given to wait');
      const state = POWER_STATES.find((s) => s.toLowerCase() === wanted.toLowerCase());
      if (!state) throw new CliError(`Unknown status ${wanted}`);
      await waitPowerState(ctx.api, single(target).ref, state, Number(ctx.opts.timeout ?? 0) * 1000);
      return undefined;
    },
  };
}

/** `<name> <progress>%` for each of `vms` being migrated (progress from the operation's task). */
async function migratingLines(api: Api, vms: ApiObject[]): Promise<string[]> {
  const lines: string[] = [];
  for (const o of vms) {
    const ops = (await api.call('VM.get_current_operations', o.ref).catch(() => ({}))) as Record<
      string,
      string
    >;
    for (const [task, op] of Object.entries(ops)) {
      if (!MIGRATE_OPS.has(op)) continue;
      const p = Number(await api.call('task.get_progress', task).catch(() => 0));
      lines.push(`${o.record.name_label} ${Math.round(p * 100)}%`);
    }
  }
  return lines;
}

function migratingVerb(): VerbSpec {
  return {
    name: 'migrating',
    summary: 'the VMs being migrated and their progress (-f: until none migrates)',
    target: 'many',
    options: [
      { short: 'f', long: 'follow', kind: 'flag', help: 'repeat until no VM migrates' },
      {
        short: 'p',
        long: 'pause',
        kind: 'value',
        type: 'int',
        help: 'seconds between rounds (default 5)',
        metavar: 'N',
      },
    ],
    run: async (ctx, target) => {
      const vms = many(target);
      const pause = Number(ctx.opts.pause ?? 5) * 1000;
      const follow = Boolean(ctx.opts.follow);
      return (async function* () {
        for (;;) {
          yield '------';
          const lines = await migratingLines(ctx.api, vms);
          yield* lines;
          if (!follow || lines.length === 0) return;
          await sleep(pause);
        }
      })();
    },
  };
}

function snapshotVerb(): VerbSpec {
  return {
    name: 'snapshot',
    summary: 'take a snapshot of the VM (its disks; -n names it)',
    target: 'one',
    long: true,
    options: [{ short: 'n', long: 'name', kind: 'value', help: 'name of the snapshot', metavar: 'NAME' }],
    run: async (ctx, target) => {
      const vm = single(target);
      const name = optText(ctx.opts, 'name') ?? `${vm.record.name_label} snapshot`;
      const result = await runTask(ctx.api, ctx.out, 'snapshot', 'VM.snapshot', vm.ref, name);
      const ref = /OpaqueRef:[0-9A-Za-z-]+/.exec(result)?.[0] ?? result;
      return ctx.api.byRef('VM', ref);
    },
  };
}

function revertVerb(): VerbSpec {
  return {
    name: 'revert',
    summary: 'revert the VM to one of its snapshots (-S NAME|UUID; default: the latest)',
    target: 'one',
    long: true,
    options: [{ short: 'S', long: 'snapshot', kind: 'value', help: 'the snapshot', metavar: 'SNAPSHOT' }],
    run: async (ctx, target) => {
      const vm = single(target);
      const snaps: ApiObject[] = [];
      for (const s of (await ctx.api.call('VM.get_snapshots', vm.ref)) as string[])
        snaps.push(await ctx.api.byRef('VM', s));
      const which = optText(ctx.opts, 'snapshot');
      const chosen = which
        ? snaps.filter((s) => s.record.uuid === which || s.record.name_label === which)
        : snaps
            .sort((a, b) => String(b.record.snapshot_time).localeCompare(String(a.record.snapshot_time)))
            .slice(0, 1);
      if (chosen.length === 0)
        throw notFoundError(which ? `no snapshot '${which}' of this VM` : 'this VM has no snapshot');
      if (chosen.length > 1) throw new CliError(`Too many snapshots named '${which}'`);
      await runTask(ctx.api, ctx.out, 'revert', 'VM.revert', chosen[0].ref);
      return true;
    },
  };
}

export const vmNoun: NounSpec = {
  name: 'vm',
  summary: 'virtual machines',
  xapiClass: 'VM',
  filter: isPlainVm,
  listColumns: ['name_label', 'uuid', 'power_state'],
  verbs: [
    listVerb(),
    exportVerb(),
    vmCreateVerb(),
    startVerb(),
    simple('stop', 'power the VM off at once (hard shutdown)', 'VM.hard_shutdown'),
    simple('shutdown', 'shut the VM down cleanly (ACPI power button)', 'VM.clean_shutdown'),
    rebootVerb(),
    suspendVerb(),
    resumeVerb(),
    simple('pause', 'pause the running VM', 'VM.pause'),
    simple('unpause', 'unpause the VM', 'VM.unpause'),
    migrateVerb(),
    deleteVerb(),
    ticketVerb(),
    statisticsVerb(),
    waitforVerb(),
    migratingVerb(),
    vmAutoinstallVerb(),
    vmCopyVerb(),
    vmDisksVerb(),
    vmNicsVerb(),
    snapshotVerb(),
    revertVerb(),
    xvaExportVerb(),
    xvaImportVerb(),
  ],
};
