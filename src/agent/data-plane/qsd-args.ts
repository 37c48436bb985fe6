// The qemu-storage-daemon command line serving one volume over NBD on a Unix socket (pure).
// Block nodes and the export are JSON (no comma escaping of paths); the NBD server's address is
// key=value (its option takes no JSON) and is always a path the agent chose.
import type { ImageFormat } from '../../shared/host/storage.js';

export const QSD_BINARY = process.env.BERTH_QSD ?? 'qemu-storage-daemon';

export interface QsdExport {
  /** Image path (a file, or a block device for LVM volumes). */
  path: string;
  format: ImageFormat;
  readOnly: boolean;
  socket: string;
  pidFile: string;
  exportName: string;
  bitmap?: string;
}

export function qsdArgs(x: QsdExport): string[] {
  const ro = x.readOnly;
  const file = {
    driver: x.path.startsWith('/dev/') ? 'host_device' : 'file',
    'node-name': 'file0',
    filename: x.path,
    'read-only': ro,
    // Reading needs no lock: a VM may hold the image (a snapshot's base is its backing file).
    ...(ro ? { 'force-share': true } : {}),
  };
  const disk = {
    driver: x.format,
    'node-name': 'disk0',
    file: 'file0',
    'read-only': ro,
    ...(ro ? { 'force-share': true } : {}),
  };
  const exp = {
    type: 'nbd',
    id: 'export0',
    'node-name': 'disk0',
    name: x.exportName,
    writable: !ro,
    'allocation-depth': true,
    ...(x.bitmap ? { bitmaps: [x.bitmap] } : {}),
  };
  if (x.socket.includes(',')) throw new Error(`socket path ${x.socket} contains a comma`);
  return [
    '--blockdev',
    JSON.stringify(file),
    '--blockdev',
    JSON.stringify(disk),
    '--nbd-server',
    `addr.type=unix,addr.path=${x.socket},max-connections=16`,
    '--export',
    JSON.stringify(exp),
    '--pidfile',
    x.pidFile,
    '--daemonize',
  ];
}

/** Meta contexts such an export offers. */
export function qsdContexts(bitmap?: string): string[] {
  return ['base:allocation', 'qemu:allocation-depth', ...(bitmap ? [`qemu:dirty-bitmap:${bitmap}`] : [])];
}

/** Is this argv a qemu-storage-daemon serving `socket`? (pure; guards against recycled pids) */
export function isQsdFor(argv: readonly string[], socket: string): boolean {
  return (
    /qemu-storage-daemon$/.test(argv[0] ?? '') &&
    argv.some((a) => a.startsWith('addr.type=unix,') && a.includes(`addr.path=${socket},`))
  );
}
