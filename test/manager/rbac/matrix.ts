// The RBAC role matrix, generated from the datamodel (never hand-listed): each message's level is
// the least privileged of xapi's six roles allowed to call it; a role may call a message iff the
// message lists that role. Shared by the role-matrix tests.
import { ROLE_NAMES, type RoleName } from '../../../src/manager/auth/roles.js';
import { MODEL } from '../../../src/shared/datamodel/generated/model.js';
import type { MessageSpec } from '../../../src/shared/datamodel/model-types.js';
import type { TypeDesc } from '../../../src/shared/datamodel/types.js';

export { ROLE_NAMES, type RoleName };

/** Index in ROLE_NAMES (0 = pool-admin … 5 = read-only) of the message's level; -1 = superuser only. */
export function level(msg: MessageSpec): number {
  let lvl = -1;
  ROLE_NAMES.forEach((r, i) => {
    if (msg.roles.includes(r)) lvl = i;
  });
  return lvl;
}

/** Messages a session can call at all (RBAC is checked for them): session-taking, not removed. */
export const CHECKED: MessageSpec[] = Object.values(MODEL.classes)
  .flatMap((c) => c.messages)
  .filter((m) => m.session && m.lifecycle !== 'removed')
  .sort((a, b) => a.wire.localeCompare(b.wire));

export const CLASSES = [...new Set(CHECKED.map((m) => m.cls))].sort();

/** A harmless well-formed value of a type: empty containers, zeroes, a ref to nothing. */
export const NO_SUCH_REF = 'OpaqueRef:00000000-0000-0000-0000-00000000bac0';
export function dummy(t: TypeDesc): unknown {
  switch (t.kind) {
    case 'string':
      return '';
    case 'ref':
      return NO_SUCH_REF;
    case 'enum':
      return MODEL.enums[t.name][0];
    case 'int':
    case 'int32':
    case 'float':
      return 0;
    case 'bool':
      return false;
    case 'datetime':
      return '19700101T00:00:00Z';
    case 'set':
    case 'option':
      return [];
    case 'map':
    case 'record':
      return {};
    default:
      return '';
  }
}

export const dummyArgs = (m: MessageSpec) => m.params.map((p) => dummy(p.type));

/** xapi's RBAC_PERMISSION_DENIED text for a message (written out here, not taken from rbac.ts). */
export const deniedText = (m: MessageSpec) =>
  `No permission in user session. (Roles with this permission: ${m.roles.join(', ')})`;

/** Can the dummy arguments be sent over the wire and decoded (no record parameters)? */
export const wireFriendly = (m: MessageSpec) =>
  m.params.every(
    (p) => p.type.kind !== 'record' && !(p.type.kind === 'option' && p.type.of.kind === 'record'),
  );

/** Starts with a ref parameter, so a ref to nothing makes the call fail right after RBAC. */
export const startsWithRef = (m: MessageSpec) => m.params[0]?.type.kind === 'ref';

/** Deterministic pick so a failure is reproducible: the middle element. */
export const pick = <T>(xs: T[]): T | undefined => xs[Math.floor(xs.length / 2)];

/**
 * Per role and class: a message "just above" the role's level (the next more privileged level;
 * failing that, the nearest level above), and one at the role's own level that starts with a ref.
 */
export function samples(role: RoleName, cls: string, ok: (m: MessageSpec) => boolean = () => true) {
  const r = ROLE_NAMES.indexOf(role);
  const ofCls = CHECKED.filter((m) => m.cls === cls && ok(m));
  let above: MessageSpec | undefined;
  for (let l = r - 1; l >= -1 && !above; l--) above = pick(ofCls.filter((m) => level(m) === l));
  const at = pick(ofCls.filter((m) => level(m) === r && startsWithRef(m)));
  return { above, at };
}
