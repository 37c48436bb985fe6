// Per-chunk checksums of the XVA format: `.xxhash` members hold XXH64 (seed 0) as 16 uppercase
// hex digits (xapi prints the int64 with %016LX and compares strings exactly); legacy `.checksum`
// members hold SHA-1 as 40 lowercase hex digits (Sha1.to_hex).
import { createHash } from 'node:crypto';
import xxhash from 'xxhash-wasm';

type XxApi = Awaited<ReturnType<typeof xxhash>>;
let api: XxApi | undefined;
let loading: Promise<XxApi> | undefined;

/** Loads the WebAssembly XXH64 once; call before the synchronous functions below. */
export async function loadXxhash(): Promise<void> {
  if (api) return;
  loading ??= xxhash();
  api = await loading;
}

/** XXH64 of `data` as xapi writes it in a `.xxhash` member. */
export function xxh64Hex(data: Uint8Array): string {
  if (!api) throw new Error('loadXxhash() was not awaited');
  return api.h64Raw(data, 0n).toString(16).toUpperCase().padStart(16, '0');
}

/** SHA-1 of `data` as xapi wrote it in a legacy `.checksum` member. */
export function sha1Hex(data: Uint8Array): string {
  return createHash('sha1').update(data).digest('hex');
}
