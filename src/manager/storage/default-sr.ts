// The pool's default SR: a local `file` SR at a fixed path, created on first start.
import { isNull, localPbd } from './records.js';
import { createSr, plugPbd } from './sr-ops.js';
import type { Services } from '../api/context.js';

/**
 * Makes sure a plugged `file` SR at `path` exists and is the pool's default_SR (also
 * suspend_image_SR / crash_dump_SR when unset). Idempotent; returns the SR ref.
 */
export async function ensureDefaultSr(svc: Services, path: string): Promise<string> {
  const { db } = svc;
  const poolRef = svc.poolRef();
  let sr = [...db.all('SR')].find(([ref, row]) => {
    if (row.type !== 'file') return false;
    const pbd = localPbd(svc, ref);
    return (
      pbd !== undefined &&
      ((db.get('PBD', pbd)?.device_config ?? {}) as Record<string, string>).location === path
    );
  })?.[0];
  if (sr) {
    const pbd = localPbd(svc, sr)!;
    if (!db.get('PBD', pbd)?.currently_attached) await plugPbd(svc, pbd);
  } else {
    sr = await createSr(svc, {
      host: svc.hostRef(),
      deviceConfig: { location: path },
      physicalSize: 0,
      nameLabel: 'Local storage',
      nameDescription: `qcow2 files in ${path}`,
      type: 'file',
      contentType: 'user',
      shared: false,
      smConfig: {},
      otherConfig: { 'i18n-key': 'local-storage', 'i18n-original-value-name_label': 'Local storage' },
    });
  }
  const pool = db.mustGet('pool', poolRef);
  const upd: Record<string, string> = {};
  if (isNull(pool.default_SR) || !db.has('SR', String(pool.default_SR))) upd.default_SR = sr;
  for (const k of ['suspend_image_SR', 'crash_dump_SR'])
    if (isNull(pool[k]) || !db.has('SR', String(pool[k]))) upd[k] = sr;
  if (Object.keys(upd).length) db.update('pool', poolRef, upd);
  return sr;
}
