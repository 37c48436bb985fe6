// Thin wrappers around qemu-img (and qemu-io for tests/benchmarks): every call is an argument
// array through shared/exec. Parsing of qemu-img's JSON output is kept pure for tests.
import { run, runChecked } from '../../shared/exec.js';
import type { ImageFormat } from '../../shared/host/storage.js';

export type { ImageFormat };

export interface ImageInfo {
  format: string;
  virtualSize: number;
  /** Bytes actually allocated on the host for this file (not its backing chain). */
  actualSize: number;
  /** The backing file as written in the header (relative names stay relative). */
  backingFile?: string;
  backingFormat?: string;
}

/** Parses `qemu-img info --output=json` for one image. */
export function parseImageInfo(json: string): ImageInfo {
  const o = JSON.parse(json) as Record<string, unknown>;
  const vs = Number(o['virtual-size']);
  if (!Number.isFinite(vs)) throw new Error('qemu-img info: no virtual-size');
  return {
    format: String(o.format ?? ''),
    virtualSize: vs,
    actualSize: Number(o['actual-size'] ?? 0),
    backingFile: typeof o['backing-filename'] === 'string' ? (o['backing-filename'] as string) : undefined,
    backingFormat:
      typeof o['backing-filename-format'] === 'string' ? (o['backing-filename-format'] as string) : undefined,
  };
}

/** -U: the image may be open read-write by a running QEMU; reading metadata is still safe. */
export async function imageInfo(path: string): Promise<ImageInfo> {
  return parseImageInfo(await runChecked('qemu-img', ['info', '-U', '--output=json', path]));
}

/** Creates a qcow2 (optionally over a backing file named relative to the image's directory). */
export async function createImage(
  path: string,
  format: ImageFormat,
  sizeBytes?: number,
  backing?: { file: string; format: ImageFormat },
): Promise<void> {
  const args = ['create', '-q', '-f', format];
  if (format === 'qcow2') args.push('-o', 'lazy_refcounts=on,cluster_size=65536');
  if (backing) args.push('-b', backing.file, '-F', backing.format);
  args.push(path);
  if (sizeBytes !== undefined) args.push(String(sizeBytes));
  await runChecked('qemu-img', args);
}

export async function resizeImage(path: string, format: ImageFormat, sizeBytes: number): Promise<void> {
  await runChecked('qemu-img', ['resize', '-q', '-f', format, path, String(sizeBytes)]);
}

/**
 * Copies `src` (with its whole backing chain flattened) into `dst`. `existing` writes into an
 * already-created target (raw LV, or a VDI given as into_vdi) instead of creating one.
 */
export async function convertImage(
  src: string,
  srcFormat: ImageFormat,
  dst: string,
  dstFormat: ImageFormat,
  opts: { existing?: boolean; signal?: AbortSignal } = {},
): Promise<void> {
  const args = ['convert', '-q', '-f', srcFormat, '-O', dstFormat, '-W', '-m', '8'];
  if (dstFormat === 'qcow2' && !opts.existing) args.push('-o', 'lazy_refcounts=on,cluster_size=65536');
  if (opts.existing) args.push('-n');
  args.push(src, dst);
  await runChecked('qemu-img', args);
}

/**
 * Makes `path` stand on `newBacking` (or alone, when undefined) keeping its guest-visible
 * content: qemu-img copies the clusters that differ first and rewrites the header last, so an
 * interrupted rebase leaves the old, still consistent chain.
 */
export async function rebaseImage(
  path: string,
  newBacking: { file: string; format: ImageFormat } | undefined,
): Promise<void> {
  const args = ['rebase', '-q', '-f', 'qcow2'];
  if (newBacking) args.push('-b', newBacking.file, '-F', newBacking.format);
  else args.push('-b', '');
  args.push(path);
  await runChecked('qemu-img', args);
}

/** Bytes a full copy of `src` needs in the given format (`qemu-img measure`). */
export async function measureImage(
  src: string,
  srcFormat: ImageFormat,
  dstFormat: ImageFormat,
): Promise<number> {
  const out = await runChecked('qemu-img', [
    'measure',
    '-U',
    '--output=json',
    '-f',
    srcFormat,
    '-O',
    dstFormat,
    src,
  ]);
  const o = JSON.parse(out) as { required?: number; 'fully-allocated'?: number };
  return Number(o.required ?? 0);
}

/** Checks an image's metadata; true when qemu-img finds no corruption. */
export async function checkImage(path: string): Promise<boolean> {
  const r = await run('qemu-img', ['check', '-U', '-q', path]);
  return r.code === 0;
}
