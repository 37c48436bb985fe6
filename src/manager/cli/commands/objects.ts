// Commands on hosts, storage, networking, tasks, events, users and messages.
import { boolParam, getParam, mapParams, parseSize, requireParam } from '../args.js';
import type { CommandSpec, Ctx } from '../context.js';
import { CliError } from '../errors.js';
import { CLI_CLASSES, allRecords, parseEnum, type Row } from '../records.js';
import { doMultiple, select } from '../select.js';
import { runAsync } from '../tasks.js';
import { callNamed, command, refOf, uuidOf } from './common.js';

const NULL_REF = 'OpaqueRef:NULL';

/** `uuid=` of a class → ref, then one call. */
const onUuid = (name: string, cls: string, method: string, extra: (ctx: Ctx) => unknown[] = () => []) =>
  command(name, async (ctx) => {
    const ref = await refOf(ctx, cls, requireParam(ctx.params, 'uuid'));
    await ctx.api.call(ctx.session, method, [ref, ...extra(ctx)]);
  });

const printUuid = async (ctx: Ctx, cls: string, ref: unknown) =>
  ctx.p.list([await uuidOf(ctx, cls, String(ref))]);

async function poolMaster(ctx: Ctx): Promise<string> {
  const pools = (await ctx.api.call(ctx.session, 'pool.get_all_records', [])) as Record<string, Row>;
  return String(Object.values(pools)[0]?.master ?? NULL_REF);
}

const hostCommand = (name: string, op: (ctx: Ctx, ref: string) => Promise<void>) => {
  const spec = command(name, async (ctx) => {
    const hosts = await select(ctx, { kind: 'host', own: [...spec.reqd, ...spec.optn] });
    await doMultiple(ctx, hosts, 'host', (h) => op(ctx, h.ref));
  });
  return spec;
};

export const OBJECT_COMMANDS: CommandSpec[] = [
  // Hosts
  command('host-call-plugin', async (ctx) => {
    const host = await refOf(ctx, 'host', requireParam(ctx.params, 'host-uuid'));
    const args = Object.fromEntries(mapParams(ctx.params, 'args'));
    const out = await ctx.api.call(ctx.session, 'host.call_plugin', [
      host,
      requireParam(ctx.params, 'plugin'),
      requireParam(ctx.params, 'fn'),
      args,
    ]);
    ctx.p.list([String(out)]);
  }),
  hostCommand('host-enable', async (ctx, h) => {
    await ctx.api.call(ctx.session, 'host.enable', [h]);
  }),
  hostCommand('host-disable', async (ctx, h) => {
    await ctx.api.call(ctx.session, 'host.disable', [h]);
  }),
  // Storage
  command('sr-create', async (ctx) => {
    const shared = boolParam(ctx.params, 'shared');
    const hostUuid = getParam(ctx.params, 'host-uuid');
    const host = hostUuid ? await refOf(ctx, 'host', hostUuid) : await poolMaster(ctx);
    const size = getParam(ctx.params, 'physical-size');
    const ref = await runAsync(ctx, 'SR.create', [
      host,
      Object.fromEntries(mapParams(ctx.params, 'device-config')),
      size === undefined ? 0 : parseSize('physical-size', size),
      requireParam(ctx.params, 'name-label'),
      getParam(ctx.params, 'name-description') ?? '',
      requireParam(ctx.params, 'type'),
      getParam(ctx.params, 'content-type') ?? '',
      shared,
      Object.fromEntries(mapParams(ctx.params, 'sm-config')),
    ]);
    await printUuid(ctx, 'SR', ref);
  }),
  onUuid('sr-scan', 'SR', 'SR.scan'),
  onUuid('sr-destroy', 'SR', 'SR.destroy'),
  onUuid('sr-forget', 'SR', 'SR.forget'),
  onUuid('sr-update', 'SR', 'SR.update'),
  command('pbd-create', async (ctx) => {
    const ref = await ctx.api.call(ctx.session, 'PBD.create', [
      {
        host: await refOf(ctx, 'host', requireParam(ctx.params, 'host-uuid')),
        SR: await refOf(ctx, 'SR', requireParam(ctx.params, 'sr-uuid')),
        device_config: Object.fromEntries(mapParams(ctx.params, 'device-config')),
        other_config: {},
      },
    ]);
    await printUuid(ctx, 'PBD', ref);
  }),
  onUuid('pbd-plug', 'PBD', 'PBD.plug'),
  onUuid('pbd-unplug', 'PBD', 'PBD.unplug'),
  onUuid('pbd-destroy', 'PBD', 'PBD.destroy'),
  command('vdi-create', async (ctx) => {
    const type = getParam(ctx.params, 'type') ?? 'user';
    const ref = await ctx.api.call(ctx.session, 'VDI.create', [
      {
        name_label: requireParam(ctx.params, 'name-label'),
        name_description: '',
        SR: await refOf(ctx, 'SR', requireParam(ctx.params, 'sr-uuid')),
        virtual_size: parseSize('virtual-size', requireParam(ctx.params, 'virtual-size')),
        type: parseEnum('type', 'vdi_type', type),
        sharable: boolParam(ctx.params, 'sharable'),
        read_only: false,
        other_config: {},
        xenstore_data: {},
        sm_config: Object.fromEntries(mapParams(ctx.params, 'sm-config')),
        tags: mapParams(ctx.params, 'tags').map(([, v]) => v),
      },
    ]);
    await printUuid(ctx, 'VDI', ref);
  }),
  onUuid('vdi-destroy', 'VDI', 'VDI.destroy'),
  onUuid('vdi-forget', 'VDI', 'VDI.forget'),
  onUuid('vdi-update', 'VDI', 'VDI.update'),
  command('vdi-resize', async (ctx) => {
    const ref = await refOf(ctx, 'VDI', requireParam(ctx.params, 'uuid'));
    const size = parseSize('disk-size', requireParam(ctx.params, 'disk-size'));
    await runAsync(ctx, boolParam(ctx.params, 'online') ? 'VDI.resize_online' : 'VDI.resize', [ref, size]);
  }),
  command('vdi-clone', async (ctx) => {
    const ref = await refOf(ctx, 'VDI', requireParam(ctx.params, 'uuid'));
    const driver = Object.fromEntries(
      ctx.params.filter(([k]) => k.startsWith('driver-params-')).map(([k, v]) => [k.slice(14), v]),
    );
    const out = await runAsync(ctx, 'VDI.clone', [ref, driver]);
    const name = getParam(ctx.params, 'new-name-label');
    if (name !== undefined) await ctx.api.call(ctx.session, 'VDI.set_name_label', [out, name]);
    const desc = getParam(ctx.params, 'new-name-description');
    if (desc !== undefined) await ctx.api.call(ctx.session, 'VDI.set_name_description', [out, desc]);
    await printUuid(ctx, 'VDI', out);
  }),
  command('vdi-snapshot', async (ctx) => {
    const ref = await refOf(ctx, 'VDI', requireParam(ctx.params, 'uuid'));
    const driver = Object.fromEntries(
      ctx.params.filter(([k]) => k.startsWith('driver-params-')).map(([k, v]) => [k.slice(14), v]),
    );
    await printUuid(ctx, 'VDI', await runAsync(ctx, 'VDI.snapshot', [ref, driver]));
  }),
  command('vdi-copy', async (ctx) => {
    const ref = await refOf(ctx, 'VDI', requireParam(ctx.params, 'uuid'));
    const opt = async (p: string, cls: string) => {
      const v = getParam(ctx.params, p);
      return v ? refOf(ctx, cls, v) : NULL_REF;
    };
    const out = await runAsync(ctx, 'VDI.copy', [
      ref,
      await opt('sr-uuid', 'SR'),
      await opt('base-vdi-uuid', 'VDI'),
      await opt('into-vdi-uuid', 'VDI'),
    ]);
    await printUuid(ctx, 'VDI', out);
  }),
  // Changed-block tracking
  onUuid('vdi-enable-cbt', 'VDI', 'VDI.enable_cbt'),
  onUuid('vdi-disable-cbt', 'VDI', 'VDI.disable_cbt'),
  onUuid('vdi-data-destroy', 'VDI', 'VDI.data_destroy'),
  command('vdi-list-changed-blocks', async (ctx) => {
    const from = await refOf(ctx, 'VDI', requireParam(ctx.params, 'vdi-from-uuid'));
    const to = await refOf(ctx, 'VDI', requireParam(ctx.params, 'vdi-to-uuid'));
    ctx.p.list([String(await ctx.api.call(ctx.session, 'VDI.list_changed_blocks', [from, to]))]);
  }),
  command('vbd-create', async (ctx) => {
    const vdiUuid = getParam(ctx.params, 'vdi-uuid');
    const type = parseEnum('type', 'vbd_type', getParam(ctx.params, 'type') ?? 'Disk');
    if (!vdiUuid && type !== 'CD') throw new CliError('Empty VBDs can only be made for type=CD');
    const mode = parseEnum('mode', 'vbd_mode', getParam(ctx.params, 'mode') ?? 'RW');
    const ref = await ctx.api.call(ctx.session, 'VBD.create', [
      {
        VM: await refOf(ctx, 'VM', requireParam(ctx.params, 'vm-uuid')),
        VDI: vdiUuid ? await refOf(ctx, 'VDI', vdiUuid) : NULL_REF,
        userdevice: requireParam(ctx.params, 'device'),
        bootable: boolParam(ctx.params, 'bootable'),
        mode,
        type,
        unpluggable: boolParam(ctx.params, 'unpluggable', true),
        empty: !vdiUuid,
        other_config: {},
        qos_algorithm_type: '',
        qos_algorithm_params: {},
      },
    ]);
    await printUuid(ctx, 'VBD', ref);
  }),
  onUuid('vbd-plug', 'VBD', 'VBD.plug'),
  command('vbd-unplug', async (ctx) => {
    const ref = await refOf(ctx, 'VBD', requireParam(ctx.params, 'uuid'));
    await ctx.api.call(ctx.session, boolParam(ctx.params, 'force') ? 'VBD.unplug_force' : 'VBD.unplug', [
      ref,
    ]);
  }),
  onUuid('vbd-destroy', 'VBD', 'VBD.destroy'),
  onUuid('vbd-eject', 'VBD', 'VBD.eject'),
  command('vbd-insert', async (ctx) => {
    const ref = await refOf(ctx, 'VBD', requireParam(ctx.params, 'uuid'));
    await ctx.api.call(ctx.session, 'VBD.insert', [
      ref,
      await refOf(ctx, 'VDI', requireParam(ctx.params, 'vdi-uuid')),
    ]);
  }),
  // Networking
  command('vif-create', async (ctx) => {
    const network = await refOf(ctx, 'network', requireParam(ctx.params, 'network-uuid'));
    const mtu = Number(await ctx.api.call(ctx.session, 'network.get_MTU', [network]));
    let mac = getParam(ctx.params, 'mac') ?? '';
    if (mac === 'random') mac = randomMac();
    const ref = await ctx.api.call(ctx.session, 'VIF.create', [
      {
        device: requireParam(ctx.params, 'device'),
        network,
        VM: await refOf(ctx, 'VM', requireParam(ctx.params, 'vm-uuid')),
        MAC: mac,
        MTU: mtu,
        other_config: {},
        qos_algorithm_type: '',
        qos_algorithm_params: {},
      },
    ]);
    await printUuid(ctx, 'VIF', ref);
  }),
  onUuid('vif-plug', 'VIF', 'VIF.plug'),
  command('vif-unplug', async (ctx) => {
    const ref = await refOf(ctx, 'VIF', requireParam(ctx.params, 'uuid'));
    await ctx.api.call(ctx.session, boolParam(ctx.params, 'force') ? 'VIF.unplug_force' : 'VIF.unplug', [
      ref,
    ]);
  }),
  onUuid('vif-destroy', 'VIF', 'VIF.destroy'),
  command('network-create', async (ctx) => {
    const mtu = getParam(ctx.params, 'MTU');
    const ref = await ctx.api.call(ctx.session, 'network.create', [
      {
        name_label: requireParam(ctx.params, 'name-label'),
        name_description: getParam(ctx.params, 'name-description') ?? '',
        MTU: mtu === undefined ? 1500 : Number(mtu),
        other_config: {},
        bridge: getParam(ctx.params, 'bridge') ?? '',
        managed: boolParam(ctx.params, 'managed', true),
        tags: [],
      },
    ]);
    await printUuid(ctx, 'network', ref);
  }),
  onUuid('network-destroy', 'network', 'network.destroy'),
  onUuid('pif-plug', 'PIF', 'PIF.plug'),
  onUuid('pif-unplug', 'PIF', 'PIF.unplug'),
  onUuid('pif-forget', 'PIF', 'PIF.forget'),
  command('pif-reconfigure-ip', async (ctx) => {
    const ref = await refOf(ctx, 'PIF', requireParam(ctx.params, 'uuid'));
    await ctx.api.call(ctx.session, 'PIF.reconfigure_ip', [
      ref,
      parseEnum('mode', 'ip_configuration_mode', requireParam(ctx.params, 'mode')),
      getParam(ctx.params, 'IP') ?? '',
      getParam(ctx.params, 'netmask') ?? '',
      getParam(ctx.params, 'gateway') ?? '',
      getParam(ctx.params, 'DNS') ?? '',
    ]);
  }),
  command('vlan-create', async (ctx) => {
    const tag = Number(requireParam(ctx.params, 'vlan'));
    const ref = await ctx.api.call(ctx.session, 'VLAN.create', [
      await refOf(ctx, 'PIF', requireParam(ctx.params, 'pif-uuid')),
      tag,
      await refOf(ctx, 'network', requireParam(ctx.params, 'network-uuid')),
    ]);
    await printUuid(ctx, 'VLAN', ref);
  }),
  command('bond-create', async (ctx) => {
    const pifs = requireParam(ctx.params, 'pif-uuids').split(',').filter(Boolean);
    const mode = getParam(ctx.params, 'mode');
    const ref = await callNamed(ctx, 'Bond.create', {
      network: await refOf(ctx, 'network', requireParam(ctx.params, 'network-uuid')),
      members: await Promise.all(pifs.map((u) => refOf(ctx, 'PIF', u))),
      MAC: getParam(ctx.params, 'mac') ?? '',
      mode: parseEnum('mode', 'bond_mode', mode ?? 'balance-slb'),
      properties: Object.fromEntries(mapParams(ctx.params, 'properties')),
    });
    await printUuid(ctx, 'Bond', ref);
  }),
  // Tasks, events, users, messages, secrets
  onUuid('task-cancel', 'task', 'task.cancel'),
  command('event-wait', eventWait),
  command('user-password-change', async (ctx) => {
    await ctx.api.call(ctx.session, 'session.change_password', [
      getParam(ctx.params, 'old') ?? '',
      requireParam(ctx.params, 'new'),
    ]);
  }),
  command('message-create', async (ctx) => {
    const targets = (['vm', 'host', 'sr', 'pool'] as const).filter(
      (c) => getParam(ctx.params, `${c}-uuid`) !== undefined,
    );
    if (targets.length !== 1)
      throw new CliError('Need exactly one of vm-uuid, host-uuid, sr-uuid or pool-uuid');
    const cls = { vm: 'VM', host: 'Host', sr: 'SR', pool: 'Pool' }[targets[0]];
    const ref = await ctx.api.call(ctx.session, 'message.create', [
      requireParam(ctx.params, 'name'),
      Number(requireParam(ctx.params, 'priority')),
      cls,
      requireParam(ctx.params, `${targets[0]}-uuid`),
      requireParam(ctx.params, 'body'),
    ]);
    void ref;
  }),
  command('secret-create', async (ctx) => {
    const ref = await ctx.api.call(ctx.session, 'secret.create', [
      { value: requireParam(ctx.params, 'value'), other_config: {} },
    ]);
    await printUuid(ctx, 'secret', ref);
  }),
  onUuid('secret-destroy', 'secret', 'secret.destroy'),
];

function randomMac(): string {
  const b = crypto.getRandomValues(new Uint8Array(6));
  b[0] = (b[0] & 0xfe) | 0x02; // locally administered, unicast
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Classes event-wait accepts, with their API class names. */
const EVENT_CLASSES: Record<string, string> = {
  vm: 'VM',
  vdi: 'VDI',
  sr: 'SR',
  host: 'host',
  network: 'network',
  vif: 'VIF',
  pif: 'PIF',
  vbd: 'VBD',
  pbd: 'PBD',
  pool: 'pool',
  task: 'task',
  subject: 'subject',
  role: 'role',
  secret: 'secret',
  vmss: 'VMSS',
};

/** Returns once some object of the class satisfies every `field=value` / `field=/=value`. */
async function eventWait(ctx: Ctx) {
  const name = requireParam(ctx.params, 'class');
  const cls = EVENT_CLASSES[name];
  if (!cls) throw new CliError(`Unknown class: ${name}`);
  const k =
    CLI_CLASSES.find((c) => c.cls === cls && c.name === name) ?? CLI_CLASSES.find((c) => c.cls === cls);
  if (!k) throw new CliError(`Unknown class: ${name}`);
  const conds = ctx.params
    .filter(([p]) => p !== 'class' && !['server', 'username', 'password', 'port', 'minimal'].includes(p))
    .map(([p, v]) => (v.startsWith('/=') ? { p, v: v.slice(2), neg: true } : { p, v, neg: false }));
  let token = '';
  for (;;) {
    const records = await allRecords(ctx.api, ctx.session, ctx.resolver.fresh(), k);
    for (const r of records) {
      let ok = true;
      for (const c of conds) {
        const f = r.fields.find((x) => x.name === c.p);
        if (!f) throw new CliError(`key missing: ${c.p}`);
        const v = await f.get();
        if ((v === c.v) === c.neg) ok = false;
      }
      if (ok) return;
    }
    const batch = (await ctx.api.call(ctx.session, 'event.from', [[cls], token, 30])) as Row;
    token = String(batch.token);
  }
}
