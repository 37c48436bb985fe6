// NBD exports of disks a running VM holds, served by that VM's QEMU (QMP nbd-server-start and
// block-export-add, read-only): qemu-storage-daemon could only read such an image without its
// lock, inconsistently. QEMU runs unprivileged and cannot create a socket in the agent's run
// directory, so the agent makes the listening socket and hands it over as a descriptor
// (berth-fdpass, `getfd`); the socket is then linked to its final name. One NBD server per VM,
// started on the first export, stopped with the last.
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { XenApiError } from '../../shared/errors.js';
import { BITMAP_NAME, type NbdExport } from '../../shared/host/data-plane.js';
import { logger } from '../../shared/log.js';
import type { InstanceManager } from '../instances.js';
import { diskDeviceId } from '../qemu/command-line.js';
import { FdpassQmpError, passFd } from '../qemu/fdpass.js';
import { handOverListeningSocket } from '../qemu/listening-socket.js';
import { diskNodeName } from '../qemu/hotplug.js';
import { checkDeviceName } from '../qemu/spec-check.js';
import type { QemuVm } from '../qemu/vm-process.js';

const log = logger('data-plane');

interface BlockInfo {
  device?: string;
  inserted?: { 'node-name'?: string; image?: { 'virtual-size'?: number } };
}

/** The block node and size of a VM's disk from `query-block` (pure). */
export function diskNode(
  blocks: readonly BlockInfo[],
  device: string,
): { node: string; size: number } | undefined {
  const b =
    blocks.find((x) => x.device === `drive-${diskDeviceId(device)}`) ??
    blocks.find((x) => x.inserted?.['node-name'] === diskNodeName(device));
  const node = b?.inserted?.['node-name'];
  const size = b?.inserted?.image?.['virtual-size'];
  return node && typeof size === 'number' ? { node, size } : undefined;
}

interface VmExport extends NbdExport {
  uuid: string;
}

const exportId = (id: string) => `berth-nbd-${id}`;

export class InstanceExports {
  private readonly exports = new Map<string, VmExport>();
  /** VM uuid → its NBD server's socket. */
  private readonly servers = new Map<string, string>();

  constructor(
    private readonly vms: InstanceManager,
    private readonly dir: string,
  ) {}

  has(id: string): boolean {
    return this.exports.has(id);
  }

  list(): NbdExport[] {
    return [...this.exports.values()].map(({ uuid: _u, ...x }) => x);
  }

  async open(uuid: string, device: string, opts: { bitmap?: string }): Promise<NbdExport> {
    checkDeviceName('device', device);
    if (opts.bitmap !== undefined && !BITMAP_NAME.test(opts.bitmap))
      throw new XenApiError('INVALID_VALUE', ['bitmap', opts.bitmap]);
    return this.vms.withVm(uuid, async (vm) => {
      if (!vm.spec.disks.some((d) => d.device === device && !d.cdrom))
        throw new XenApiError('INVALID_VALUE', ['device', device, 'no such disk in the VM']);
      const qmp = vm.requireQmp();
      const disk = diskNode(await qmp.command<BlockInfo[]>('query-block'), device);
      if (!disk) throw new XenApiError('INVALID_VALUE', ['device', device, 'no block node for the disk']);
      const socket = this.servers.get(uuid) ?? (await this.startServer(vm));
      const id = randomBytes(8).toString('hex');
      const exportName = `${device}-${id}`;
      try {
        await qmp.command('block-export-add', {
          type: 'nbd',
          id: exportId(id),
          'node-name': disk.node,
          name: exportName,
          writable: false,
          'allocation-depth': true,
          ...(opts.bitmap ? { bitmaps: [opts.bitmap] } : {}),
        });
      } catch (e) {
        if (![...this.exports.values()].some((x) => x.uuid === uuid)) await this.stopServer(vm, uuid);
        const why = e instanceof Error ? e.message : String(e);
        if (opts.bitmap && /bitmap/i.test(why))
          throw new XenApiError('INVALID_VALUE', ['bitmap', opts.bitmap, why]);
        throw new XenApiError('INTERNAL_ERROR', [`block-export-add: ${why}`]);
      }
      const x: VmExport = {
        id,
        uuid,
        socket,
        exportName,
        size: disk.size,
        readOnly: true,
        metaContexts: [
          'base:allocation',
          'qemu:allocation-depth',
          ...(opts.bitmap ? [`qemu:dirty-bitmap:${opts.bitmap}`] : []),
        ],
      };
      this.exports.set(id, x);
      log.info('nbd export of a running disk', { id, vm: uuid, device, bitmap: opts.bitmap ?? null });
      const { uuid: _u, ...pub } = x;
      return pub;
    });
  }

  /** The VM's NBD server on a socket the agent made (QEMU cannot create one in the run dir). */
  private async startServer(vm: QemuVm): Promise<string> {
    const uuid = vm.spec.uuid;
    const socket = join(this.dir, `vm-${uuid}.sock`);
    await handOverListeningSocket(socket, async (fd) => {
      const fdName = `nbd-${randomBytes(4).toString('hex')}`;
      const start = () =>
        passFd(
          vm.paths.fdpass,
          fdName,
          { execute: 'nbd-server-start', arguments: { addr: { type: 'fd', data: { str: fdName } } } },
          { fd },
        );
      try {
        await start();
      } catch (e) {
        // A server an earlier agent started (exports do not outlive it): replace it.
        if (!(e instanceof FdpassQmpError) || !/already running/i.test(e.message)) throw e;
        await vm.requireQmp().command('nbd-server-stop');
        await start();
      }
    });
    this.servers.set(uuid, socket);
    return socket;
  }

  private async stopServer(vm: QemuVm | undefined, uuid: string) {
    const socket = this.servers.get(uuid);
    this.servers.delete(uuid);
    if (vm)
      await vm
        .requireQmp()
        .command('nbd-server-stop')
        .catch(() => undefined);
    if (socket) rmSync(socket, { force: true });
  }

  /** Ends an export (false: not one of these); the VM may be gone already. */
  async close(id: string): Promise<boolean> {
    const x = this.exports.get(id);
    if (!x) return false;
    this.exports.delete(id);
    const last = ![...this.exports.values()].some((e) => e.uuid === x.uuid);
    try {
      await this.vms.withVm(x.uuid, async (vm) => {
        await vm
          .requireQmp()
          .command('block-export-del', { id: exportId(id), mode: 'hard' })
          .catch(() => undefined);
        if (last) await this.stopServer(vm, x.uuid);
      });
    } catch {
      // The VM stopped: its QEMU took the server with it.
      if (last) await this.stopServer(undefined, x.uuid);
    }
    log.info('nbd export of a running disk closed', { id, vm: x.uuid });
    return true;
  }

  async closeAll(): Promise<void> {
    for (const id of [...this.exports.keys()]) await this.close(id);
  }

  /** Sockets an earlier agent left (their servers are replaced on the next open). */
  cleanLeftovers(): void {
    let names: string[] = [];
    try {
      names = readdirSync(this.dir);
    } catch {
      return;
    }
    for (const n of names)
      if (/^vm-[0-9a-f-]{36}(\.[0-9a-f]{8}\.tmp|\.sock)$/.test(n)) rmSync(join(this.dir, n), { force: true });
  }
}
