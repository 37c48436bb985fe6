// xe commands for external authentication and its subjects, as xapi's (cli_operations.ml):
// {pool,host}-{enable,disable}-external-auth, subject-add/-remove, subject-role-add/-remove and
// session-subject-identifier-*. subject-list / subject-param-* are the generated class commands.
// Berth's one auth type is `kerberos` (api/external-auth.ts): `xe pool-enable-external-auth
// auth-type=kerberos service-name=REALM config:keytab=http.keytab`.
import { XenApiError } from '../../../shared/errors.js';
import { getParam, hasParam, mapParams, type Params, requireParam } from '../args.js';
import type { CommandSpec, Ctx } from '../context.js';
import { command, refOf, uuidOf } from './common.js';

const call = (ctx: Ctx, msg: string, args: unknown[]) => ctx.api.call(ctx.session, msg, args);

/** xapi's `failwith` in a CLI operation: reported as INTERNAL_ERROR ["Failure: …"]. */
const failure = (msg: string) => new XenApiError('INTERNAL_ERROR', [`Failure: ${msg}`]);

/** `config:key=value` parameters as a map (xapi's read_map_params: `config:` alone is ignored). */
export function configMap(params: Params): Record<string, string> {
  return Object.fromEntries(mapParams(params, 'config').filter(([k]) => k !== ''));
}

/** The pool named by uuid=, else the pool (xapi's get_pool_with_default). */
async function poolWithDefault(ctx: Ctx): Promise<string> {
  const uuid = getParam(ctx.params, 'uuid');
  if (uuid !== undefined) return refOf(ctx, 'pool', uuid);
  return ((await call(ctx, 'pool.get_all', [])) as string[])[0];
}

/** The host-level commands only recover one host: xapi insists on --force. */
function requireForce(ctx: Ctx) {
  if (!hasParam(ctx.params, 'force'))
    throw failure(
      'This operation is provided only to recover individual hosts that are unable to access the external authentication service. This operation must be forced (use --force).',
    );
}

/** Which role subject-role-add/-remove mean: role-uuid= or role-name=, exactly one of them. */
export function roleChoice(params: Params): { by: 'uuid' | 'name'; value: string } {
  const uuid = getParam(params, 'role-uuid') ?? '';
  const name = getParam(params, 'role-name') ?? '';
  if (uuid === '' && name === '') throw failure('Required parameter not found: role-uuid or role-name');
  if (uuid !== '' && name !== '') throw failure('Parameters role-uuid and role-name cannot be used together');
  return uuid !== '' ? { by: 'uuid', value: uuid } : { by: 'name', value: name };
}

/** The subject (uuid=) and role of a subject-role command. */
async function subjectAndRole(ctx: Ctx): Promise<[string, string]> {
  const choice = roleChoice(ctx.params);
  let role: string;
  if (choice.by === 'uuid') role = await refOf(ctx, 'role', choice.value);
  else {
    // As xapi: an unknown name becomes the null ref, which the call refuses (ROLE_NOT_FOUND).
    const roles = (await call(ctx, 'role.get_by_name_label', [choice.value])) as string[];
    role = roles[0] ?? 'OpaqueRef:NULL';
  }
  const subject = await refOf(ctx, 'subject', requireParam(ctx.params, 'uuid'));
  return [subject, role];
}

export const EXTERNAL_AUTH_COMMANDS: CommandSpec[] = [
  command('pool-enable-external-auth', async (ctx) => {
    const pool = await poolWithDefault(ctx);
    await call(ctx, 'pool.enable_external_auth', [
      pool,
      configMap(ctx.params),
      requireParam(ctx.params, 'service-name'),
      requireParam(ctx.params, 'auth-type'),
    ]);
  }),
  command('pool-disable-external-auth', async (ctx) => {
    const pool = await poolWithDefault(ctx);
    await call(ctx, 'pool.disable_external_auth', [pool, configMap(ctx.params)]);
  }),
  command('host-enable-external-auth', async (ctx) => {
    requireForce(ctx);
    const host = await refOf(ctx, 'host', requireParam(ctx.params, 'host-uuid'));
    await call(ctx, 'host.enable_external_auth', [
      host,
      configMap(ctx.params),
      requireParam(ctx.params, 'service-name'),
      requireParam(ctx.params, 'auth-type'),
    ]);
  }),
  command('host-disable-external-auth', async (ctx) => {
    requireForce(ctx);
    const host = await refOf(ctx, 'host', requireParam(ctx.params, 'host-uuid'));
    await call(ctx, 'host.disable_external_auth', [host, configMap(ctx.params), true]);
  }),
  command('subject-add', async (ctx) => {
    // The name resolved through the external directory, then the subject created with what the
    // directory says of it (xapi's subject.create fetches that itself; Berth's stores what it gets).
    const identifier = await call(ctx, 'auth.get_subject_identifier', [
      requireParam(ctx.params, 'subject-name'),
    ]);
    const info = await call(ctx, 'auth.get_subject_information_from_identifier', [identifier]);
    const subject = String(
      await call(ctx, 'subject.create', [{ subject_identifier: identifier, other_config: info }]),
    );
    ctx.p.list([await uuidOf(ctx, 'subject', subject)]);
  }),
  command('subject-remove', async (ctx) => {
    const subject = await refOf(ctx, 'subject', requireParam(ctx.params, 'subject-uuid'));
    await call(ctx, 'subject.destroy', [subject]);
  }),
  command('subject-role-add', async (ctx) => {
    await call(ctx, 'subject.add_to_roles', await subjectAndRole(ctx));
  }),
  command('subject-role-remove', async (ctx) => {
    await call(ctx, 'subject.remove_from_roles', await subjectAndRole(ctx));
  }),
  command('session-subject-identifier-list', async (ctx) => {
    const ids = (await call(ctx, 'session.get_all_subject_identifiers', [])) as string[];
    ctx.p.table(ids.map((id): [string, string][] => [['subject-identifier ( RO)', id]]));
  }),
  command('session-subject-identifier-logout', async (ctx) => {
    await call(ctx, 'session.logout_subject_identifier', [requireParam(ctx.params, 'subject-identifier')]);
  }),
  command('session-subject-identifier-logout-all', async (ctx) => {
    const ids = (await call(ctx, 'session.get_all_subject_identifiers', [])) as string[];
    for (const id of ids) await call(ctx, 'session.logout_subject_identifier', [id]);
  }),
];
