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

/**
 * glibc malloc settings for the daemon: its NBD server allocates a fresh buffer for every request
 * (up to 32 MiB) and frees it after; by default glibc maps each such buffer anew and unmaps it on
 * free, so every request pays page faults on all of its pages (very costly in a VM: 1 GiB written
 * through NBD cost the daemon 4.4-5.2 s of CPU, 0.7-0.95 s with these). Serving allocations up to
 * the NBD maximum from the heap and keeping freed memory (trim above 128 MiB) reuses warm pages.
 */
export const QSD_MALLOC_TUNABLES =
  'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=134217728';

/** The daemon's environment: `base` with QSD_MALLOC_TUNABLES added to any GLIBC_TUNABLES it has. */
export function qsdEnv(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const own = base.GLIBC_TUNABLES;
  return { ...base, GLIBC_TUNABLES: own ? `${QSD_MALLOC_TUNABLES}:${own}` : QSD_MALLOC_TUNABLES };
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
