// The storage half of bench:migrate: VM.migrate_send of a running VM whose 4 GiB disk (1 GiB of
// it written) lives on host 1's local SR, to host 2's local SR (disk mirrored over NBD with TLS,
// then memory), against `qemu-img convert` of the same disk file to the same filesystem (the
// local copy at full speed, the peer the issue names). The data is written into the VDI's qcow2
// from the host with qemu-io before the VM starts (a pattern, not zeros: zeros are skipped), and
// the peer converts it before the VM starts, so both move the very same clusters.
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runChecked } from '../../src/shared/exec.js';
import { createGuestVm, startMigrationPool } from '../../test/helpers/migration-pool.js';
import { vbdRecord, vdiRecord } from '../../test/helpers/records.js';
import { benchHooks, watchStatus } from './berth-pool.js';

const MiB = 1024 * 1024;

export interface StorageFigures {
  diskBytes: number;
  writtenBytes: number;
  /** qemu-img convert of the disk, ms. */
  convertMs: number;
  /** VM.migrate_send, ms (undefined when Berth's half failed: `error` says why). */
  migrateSendMs?: number;
  /** The disk-mirroring phase as the source agent reported it (first `mirroring` → first later phase), ms. */
  mirrorMs?: number;
  /** Disk bytes the agent reported mirrored in all. */
  diskTotal?: number;
  error?: string;
}

/** Writes `bytes` of a non-zero pattern at the start of a qcow2 image, in 64 MiB requests. */
async function writePattern(path: string, bytes: number): Promise<void> {
  const step = 64 * MiB;
  const cmds: string[] = [];
  for (let off = 0; off < bytes; off += step)
    cmds.push('-c', `write -P 0x5a ${off} ${Math.min(step, bytes - off)}`);
  await runChecked('qemu-io', ['-f', 'qcow2', ...cmds, path], { timeoutMs: 600_000 });
}

async function convert(src: string, out: string): Promise<number> {
  const t0 = performance.now();
  await runChecked('qemu-img', ['convert', '-f', 'qcow2', '-O', 'qcow2', src, out], { timeoutMs: 900_000 });
  return performance.now() - t0;
}

export async function storageMigration(o: {
  diskBytes: number;
  writtenBytes: number;
  log?: (s: string) => void;
}): Promise<StorageFigures> {
  const log = o.log ?? (() => undefined);
  const hooks = benchHooks();
  const out: StorageFigures = { diskBytes: o.diskBytes, writtenBytes: o.writtenBytes, convertMs: Number.NaN };
  try {
    const p = await startMigrationPool(hooks, { localSrs: true });
    const { vm } = await createGuestVm(p.master, 'bench-migrate-send', 128);
    const vdi = String(
      await p.master.call(
        'VDI.create',
        vdiRecord(p.localSrs[0], o.diskBytes, { name_label: 'bench disk' }) as never,
      ),
    );
    await p.master.call('VBD.create', vbdRecord(vm, vdi, { userdevice: '1', bootable: false }) as never);
    const vdiUuid = String(await p.master.call('VDI.get_uuid', vdi));
    const pbd = (await p.master.call('SR.get_PBDs', p.localSrs[0]))[0];
    const location = String((await p.master.call('PBD.get_device_config', pbd)).location);
    const file = join(location, `${vdiUuid}.qcow2`);
    if (!existsSync(file)) throw new Error(`the VDI is not at ${file}`);
    await writePattern(file, o.writtenBytes);

    // The peer: the same file, converted while nothing uses it.
    const scratch = mkdtempSync(join(join(location, '..'), 'bench-convert-'));
    hooks.after(() => rmSync(scratch, { recursive: true, force: true }));
    out.convertMs = await convert(file, join(scratch, 'copy.qcow2'));
    log(
      `qemu-img convert: ${Math.round(out.convertMs)} ms (${Math.round(statSync(join(scratch, 'copy.qcow2')).size / MiB)} MiB written)`,
    );
    rmSync(scratch, { recursive: true, force: true });

    try {
      await p.master.call('VM.start_on', vm, p.refs[0], false, false);
      // The destination's address for the stream: its management address on a network both have.
      const network = await p.master.call('network.create', {
        name_label: 'bench-migrate',
        other_config: {},
      } as never);
      const dest = await p.master.call('host.migrate_receive', p.refs[1], network, {});
      const vmUuid = String(await p.master.call('VM.get_uuid', vm));
      const status = watchStatus(p.hosts[0].agentSocket, vmUuid);
      const t0 = performance.now();
      await p.master
        .call('VM.migrate_send', vm, dest, true, { [vdi]: p.localSrs[1] }, {}, {})
        .catch(async (e) => {
          await status.end();
          throw e;
        });
      out.migrateSendMs = performance.now() - t0;
      const { last, phases } = await status.end();
      const mirroring = phases.get('mirroring');
      const after = [...phases.values()].filter((at) => mirroring !== undefined && at > mirroring);
      if (mirroring !== undefined && after.length) out.mirrorMs = Math.min(...after) - mirroring;
      out.diskTotal = last?.diskTotal;
      log(
        `VM.migrate_send: ${Math.round(out.migrateSendMs)} ms; phases seen (ms from the call): ` +
          [...phases].map(([ph, at]) => `${ph} +${Math.round(at - t0)}`).join(', ') +
          `; disk ${last?.diskTransferred}/${last?.diskTotal} bytes`,
      );
      if ((await p.master.call('VM.get_resident_on', vm)) !== p.refs[1])
        throw new Error('VM.migrate_send returned but the VM is not resident on the destination');
      await p.master.call('VM.hard_shutdown', vm);
    } catch (e) {
      out.error = e instanceof Error ? e.message : String(e);
      log(`Berth migrate_send failed: ${out.error}`);
    }
    return out;
  } finally {
    await hooks.run();
  }
}

/** MiB/s of `bytes` moved in `ms` (pure). */
export function mibPerSecond(bytes: number, ms: number): number {
  return bytes / MiB / (ms / 1000);
}
