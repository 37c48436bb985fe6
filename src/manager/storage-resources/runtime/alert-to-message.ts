// Storage alerts as XenAPI messages (issue 17 §6): each alert the store raises or lowers becomes a
// `message` on the host or SR its root belongs to (else the pool), so `message.get_all_records`,
// `event.from` and XenCenter-style clients see storage alerts like xapi's own.
//
// Priorities are xapi's (1 data-loss imminent, 2 service-loss imminent, 3 service degraded,
// 4 service recovered, 5 informational): IML's ERROR (40) → 2, WARNING (30) → 3, INFO (20) → 5;
// a cleared ERROR/WARNING alert → 4 (recovered), a cleared INFO → 5.
//
// The body also names what the alert's record affects (links/): one `affects_sr`, `affects_vdi`,
// `affects_vm` line per object, `<name_label> (<uuid>)`, sorted, at most AFFECTS_CAP of each kind
// and then `affects_<kind>: … and N more`.
import type { AlertEvent } from '../context.js';
import type { AffectedNames, NamedObject } from '../links/affected-names.js';

export const ALERT_RAISED_MESSAGE = 'STORAGE_RESOURCE_ALERT';
export const ALERT_CLEARED_MESSAGE = 'STORAGE_RESOURCE_ALERT_CLEARED';

/** What a message is about: xapi's `cls` and the object's uuid. */
export interface MessageTarget {
  cls: 'Host' | 'SR' | 'Pool';
  uuid: string;
}

export interface StorageAlertMessage {
  name: string;
  priority: number;
  body: string;
}

export function alertPriority(e: Pick<AlertEvent, 'kind' | 'severity'>): number {
  if (e.kind === 'lowered') return e.severity >= 30 ? 4 : 5;
  if (e.severity >= 40) return 2;
  if (e.severity >= 30) return 3;
  return 5;
}

/** Lines of one kind past this many are summed up in one `… and N more` line. */
export const AFFECTS_CAP = 50;

/** A name as one line's text: newlines and other control characters become spaces. */
const oneLine = (s: string) => s.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();

/** `affects_<kind>: <name> (<uuid>)` lines, sorted, capped. */
export function affectsLines(kind: string, objects: readonly NamedObject[], cap = AFFECTS_CAP): string[] {
  const texts = [...new Set(objects.map((o) => `${oneLine(o.name)} (${o.uuid})`))].sort((a, b) =>
    a < b ? -1 : a > b ? 1 : 0,
  );
  const lines = texts.slice(0, cap).map((t) => `affects_${kind}: ${t}`);
  if (texts.length > cap) lines.push(`affects_${kind}: … and ${texts.length - cap} more`);
  return lines;
}

/**
 * The message's name, priority and body (the alert's text, then `key: value` lines to trace it,
 * then the SRs, VDIs and VMs it affects when known).
 */
export function alertMessage(e: AlertEvent, affected?: AffectedNames): StorageAlertMessage {
  const lines = [
    e.message,
    `root: ${e.root}`,
    `alert_class: ${e.alertClass}`,
    `alert_type: ${e.alertType}`,
    `severity: ${e.severity}`,
  ];
  if (e.resourceId !== null) lines.push(`resource: ${e.resourceId}`);
  if (e.kind === 'raised' && e.propagatedTo.length > 0) lines.push(`propagated_to: ${e.propagatedTo.length}`);
  if (e.reason) lines.push(`reason: ${e.reason}`);
  if (affected)
    lines.push(
      ...affectsLines('sr', affected.srs),
      ...affectsLines('vdi', affected.vdis),
      ...affectsLines('vm', affected.vms),
    );
  return {
    name: e.kind === 'raised' ? ALERT_RAISED_MESSAGE : ALERT_CLEARED_MESSAGE,
    priority: alertPriority(e),
    body: lines.join('\n'),
  };
}
