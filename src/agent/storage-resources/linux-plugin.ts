// The built-in `linux` device plugin: gathers the raw outputs the manager's linux plugin parses
// (LinuxHostOutputs, src/shared/storage-resources/builtin/linux-host.ts) and sends them whole at
// session start, then as deltas (unchanged sources null, IML's _delta_result). Tools absent on the
// host are left out of the body; a tool present that fails is an exception (the session ends).
import type { LinuxHostOutputs } from '../../shared/storage-resources/builtin/linux-host.js';
import { parseMdstat } from '../../shared/storage-resources/builtin/md-raid.js';
import { kalrayDpu } from '../plugins/builtin/kalray_dpu.js';
import { smartctl } from '../plugins/builtin/smartctl.js';
import { PluginHost } from '../plugins/host.js';
import { DeltaResult } from './delta.js';
import type { DevicePlugin, DevicePluginInstance } from './device-plugin.js';
import { type GatherIo, hostIo } from './gather-io.js';

export const LINUX_DEVICE_PLUGIN = 'linux';

const COMMAND_TIMEOUT_MS = 60_000;

// The columns the parser reads (lsblk.ts). Not --output-all: its fsavail/fsused of mounted
// filesystems change every second, so no update would ever be "unchanged" (_delta_result).
// PARTN is left out too: util-linux < 2.39 refuses it (the parser reads the name's digits).
const LSBLK_COLUMNS = 'NAME,PATH,MAJ:MIN,TYPE,SIZE,SERIAL,FSTYPE';

const LVM_ARGS = ['--reportformat', 'json', '--units', 'b', '--nosuffix', '-o'];

/** The body of the linux plugin's DATA: LinuxHostOutputs as JSON (a source absent: not reported). */
export type LinuxBody = LinuxHostOutputs;

async function output(io: GatherIo, argv: string[]): Promise<string> {
  const r = await io.run(argv[0], argv.slice(1), {
    timeoutMs: COMMAND_TIMEOUT_MS,
    env: { ...process.env, LC_ALL: 'C', LANG: 'C', LVM_SUPPRESS_FD_WARNINGS: '1' },
  });
  if (r.code !== 0 || r.timedOut)
    throw new Error(
      `${argv.join(' ')} ${r.timedOut ? 'timed out' : `exited ${r.code ?? r.signal}`}: ${(r.stderr || r.stdout).trim().slice(0, 500)}`,
    );
  return r.stdout;
}

async function optionalFile(io: GatherIo, path: string): Promise<string | undefined> {
  try {
    return await io.readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** A Kalray DPU to report (its management server and credentials; kept in memory only). */
export interface DpuConfig {
  server: string;
  port: number;
  username: string;
  password: string;
}

/** The DPU's devices through the kalray_dpu host plugin's own code (get_devices, get_raids, get_lvs). */
async function gatherDpu(io: GatherIo, dpu: DpuConfig): Promise<NonNullable<LinuxBody['kalrayDpu']>> {
  const host = new PluginHost({ run: io.run, plugins: [kalrayDpu] });
  const args = { server: dpu.server, port: String(dpu.port), username: dpu.username, password: dpu.password };
  return {
    server: dpu.server,
    port: dpu.port,
    devices: await host.call('kalray_dpu', 'get_devices', args),
    raids: await host.call('kalray_dpu', 'get_raids', args),
    lvs: await host.call('kalray_dpu', 'get_lvs', args),
  };
}

/** Every source this host has, gathered once. */
export async function gatherLinuxHost(
  io: GatherIo = hostIo,
  opts: { dpu?: DpuConfig } = {},
): Promise<LinuxBody> {
  const body: LinuxBody = {};
  if (await io.has('lsblk'))
    body.lsblk = await output(io, ['lsblk', '--json', '--bytes', '--output', LSBLK_COLUMNS]);
  if ((await io.has('vgs')) && (await io.has('lvs')) && (await io.has('pvs')))
    body.lvm = {
      vgs: await output(io, ['vgs', ...LVM_ARGS, 'vg_name,vg_uuid,vg_size']),
      lvs: await output(io, ['lvs', ...LVM_ARGS, 'lv_name,lv_uuid,vg_uuid,lv_size,lv_path']),
      pvs: await output(io, ['pvs', ...LVM_ARGS, 'pv_name,pv_uuid,vg_uuid,pv_size']),
    };
  const mdstat = await optionalFile(io, '/proc/mdstat');
  if (mdstat !== undefined && (await io.has('mdadm'))) {
    body.mdadmDetails = [];
    for (const a of parseMdstat(mdstat).filter((x) => x.active))
      body.mdadmDetails.push(await output(io, ['mdadm', '--detail', `/dev/${a.name}`]));
  }
  if ((await io.has('zpool')) && (await io.has('zfs')))
    body.zfs = {
      zpoolList: await output(io, ['zpool', 'list', '-Hp', '-o', 'name,guid,size,health']),
      zfsList: await output(io, [
        'zfs',
        'list',
        '-Hp',
        '-t',
        'filesystem,volume',
        '-o',
        'name,guid,type,used,avail,volsize',
      ]),
    };
  if (await io.has('smartctl'))
    // The smartctl host plugin's own code: its `information` answer, keyed "<device>:<type>".
    body.smartInformation = await new PluginHost({ run: io.run, plugins: [smartctl] }).call(
      'smartctl',
      'information',
      {},
    );
  const mountinfo = await optionalFile(io, '/proc/self/mountinfo');
  if (mountinfo !== undefined) body.mountinfo = mountinfo;
  body.sysClassNet = await io.readSysClassNet();
  if (opts.dpu) body.kalrayDpu = await gatherDpu(io, opts.dpu);
  return body;
}

export function linuxDevicePlugin(io: GatherIo = hostIo, opts: { dpu?: DpuConfig } = {}): DevicePlugin {
  return {
    name: LINUX_DEVICE_PLUGIN,
    createInstance(): DevicePluginInstance {
      const delta = new DeltaResult();
      return {
        startSession: async () => delta.reset({ ...(await gatherLinuxHost(io, opts)) }),
        updateSession: async () => delta.delta({ ...(await gatherLinuxHost(io, opts)) }),
      };
    },
  };
}
