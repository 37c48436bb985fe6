// `berth sr` (oVirt's storage domain): storage repositories. `remove` forgets an SR and keeps its
// data, `remove -f` (oVirt's format) or `destroy` wipes it; both unplug its PBDs first, as xe's
// sr-forget/sr-destroy users do by hand. `scan` is oVirt's refresh_luns, `discover` SR.probe.
import type { Api, ApiObject } from '../api.js';
import { usageError } from '../errors.js';
import { hostOrMaster, many, one } from '../infra/lookup.js';
import { deviceConfig } from '../infra/sr-config.js';
import { statisticsVerb } from '../infra/statistics.js';
import type { NounSpec, OptionSpec, VerbSpec } from '../spec.js';
import { parseSize } from '../size.js';
import { exportVerb } from '../verbs/export.js';
import { listVerb } from '../verbs/list.js';

const HOST: OptionSpec = {
  short: 'H',
  long: 'host',
  kind: 'value',
  help: 'host that does it (default: the master)',
};
const TYPE: OptionSpec = {
  short: 't',
  long: 'type',
  kind: 'value',
  help: 'SR type: file, iso, lvm, nfs, ext',
};
const PATH: OptionSpec = {
  short: 'P',
  long: 'path',
  kind: 'value',
  help: 'directory (file, iso), devices (lvm) or server:/path (nfs)',
};
const CONFIG: OptionSpec = {
  short: 'c',
  long: 'device_config',
  kind: 'pair',
  repeat: true,
  metavar: 'KEY',
  help: 'device-config entry',
};

const required = (v: unknown, what: string): string => {
  if (v === undefined || v === '') throw usageError(`${what} is required`);
  return String(v);
};

async function unplugAll(api: Api, sr: ApiObject) {
  for (const pbd of (sr.record.PBDs as string[]) ?? [])
    if (await api.call('PBD.get_currently_attached', pbd)) await api.call('PBD.unplug', pbd);
}

const create: VerbSpec = {
  name: 'create',
  summary: 'create an SR (SR.create) on a host',
  examples: [
    'berth sr create -n images -t file -P /var/lib/berth/sr/images',
    'berth sr create -n shared -t nfs -P nas:/export/berth --shared',
  ],
  target: 'none',
  usesTemplate: true,
  options: [
    { short: 'n', long: 'name', kind: 'value', help: 'name of the SR' },
    TYPE,
    HOST,
    PATH,
    CONFIG,
    { short: 'd', long: 'description', kind: 'value', help: 'description' },
    {
      short: 's',
      long: 'size',
      kind: 'value',
      type: 'size',
      help: 'physical size (2G), where the type uses it',
    },
    { long: 'content_type', kind: 'value', help: 'content type (user, iso)' },
    { long: 'shared', kind: 'flag', help: 'shared by every host of the pool' },
  ],
  run: async (ctx) => {
    const { api, opts } = ctx;
    const name = required(opts.name, 'a name (-n)');
    const type = required(opts.type, 'a type (-t)');
    const config = deviceConfig(
      type,
      opts.path as string | undefined,
      opts.device_config as Record<string, unknown>,
    );
    const host = await hostOrMaster(api, opts.host as string | undefined);
    const ref = (await api.call(
      'SR.create',
      host.ref,
      config,
      opts.size === undefined ? 0 : parseSize(opts.size as string | number),
      name,
      String(opts.description ?? ''),
      type,
      String(opts.content_type ?? (type === 'iso' ? 'iso' : 'user')),
      opts.shared === true,
      {},
    )) as string;
    return api.byRef('SR', ref);
  },
};

function removeVerb(name: string, aliases: string[], wipe: boolean | 'flag'): VerbSpec {
  return {
    name,
    aliases,
    summary:
      wipe === true
        ? 'destroy the SR and its data (PBDs unplugged, SR.destroy)'
        : 'remove the SR from the pool, keeping its data (SR.forget; -f destroys it)',
    target: 'one',
    options:
      wipe === 'flag'
        ? [{ short: 'f', long: 'format', kind: 'flag', help: "destroy the SR's data too (SR.destroy)" }]
        : [],
    run: async (ctx, target) => {
      const sr = one(target);
      await unplugAll(ctx.api, sr);
      const destroy = wipe === true || (wipe === 'flag' && ctx.opts.format === true);
      await ctx.api.call(destroy ? 'SR.destroy' : 'SR.forget', sr.ref);
      return true;
    },
  };
}

const scan: VerbSpec = {
  name: 'scan',
  aliases: ['refresh_luns', 'refresh'],
  summary: 'rescan the SR for volumes and sizes (SR.scan)',
  target: 'many',
  run: async (ctx, target) => {
    for (const sr of many(target)) await ctx.api.call('SR.scan', sr.ref);
    return true;
  },
};

const discover: VerbSpec = {
  name: 'discover',
  aliases: ['probe'],
  summary: 'what a storage target holds, as XML (SR.probe)',
  examples: ['berth sr discover -t nfs -P nas:/export'],
  target: 'none',
  options: [TYPE, HOST, PATH, CONFIG],
  run: async (ctx) => {
    const { api, opts } = ctx;
    const type = required(opts.type, 'a type (-t)');
    const config = deviceConfig(
      type,
      opts.path as string | undefined,
      opts.device_config as Record<string, unknown>,
    );
    const host = await hostOrMaster(api, opts.host as string | undefined);
    return String(await api.call('SR.probe', host.ref, config, type, {})).trimEnd();
  },
};

export const srNoun: NounSpec = {
  name: 'sr',
  aliases: ['storagedomain'],
  summary: 'storage repositories (oVirt storage domains)',
  xapiClass: 'SR',
  listColumns: ['name_label', 'uuid'],
  verbs: [
    listVerb(),
    exportVerb(),
    statisticsVerb('SR'),
    create,
    removeVerb('remove', ['forget'], 'flag'),
    removeVerb('destroy', [], true),
    scan,
    discover,
  ],
};
