// The commands xapi generates for every class: <class>-list, -param-list, -param-get,
// -param-set, -param-add, -param-remove, -param-clear (cli_operations.ml make_param_funs).
import { getParam, requireParam } from '../args.js';
import type { CommandSpec, Ctx } from '../context.js';
import { CliError } from '../errors.js';
import { XAPI_RECORDS } from '../data/xapi-records.js';
import {
  type BoundRecord,
  CLI_CLASSES,
  type CliClass,
  allRecords,
  bindRecord,
  fieldKind,
  fieldLookup,
  filterRecords,
  printable,
  selectFields,
  type Row,
} from '../records.js';
import { STDPARAMS } from '../select.js';

async function byUuid(ctx: Ctx, k: CliClass, uuid: string): Promise<BoundRecord> {
  const ref = String(await ctx.api.call(ctx.session, `${k.cls}.get_by_uuid`, [uuid]));
  const row = (await ctx.api.call(ctx.session, `${k.cls}.get_record`, [ref])) as Row;
  return { ref, row, fields: bindRecord(ctx.api, ctx.session, ctx.resolver, k.cls, k.record, ref, row) };
}

async function list(ctx: Ctx, k: CliClass) {
  const all = await allRecords(ctx.api, ctx.session, ctx.resolver, k);
  let records = all;
  const filters: [string, string][] = [
    ...k.filters,
    ...ctx.params.filter(([p]) => p !== 'params' && !STDPARAMS.includes(p) && !p.startsWith('database:')),
  ];
  for (const [p, v] of filters) records = await filterRecords(records, p, v);
  const printAll = getParam(ctx.params, 'all') === 'true';
  const chosen = printAll ? all : records;
  const table: [string, string][][] = [];
  for (const r of chosen)
    table.push(await printable(selectFields(r.fields, getParam(ctx.params, 'params'), k.columns), true));
  ctx.p.table(table);
}

async function paramList(ctx: Ctx, k: CliClass) {
  const r = await byUuid(ctx, k, requireParam(ctx.params, 'uuid'));
  ctx.p.table([await printable(r.fields, false)]);
}

async function paramGet(ctx: Ctx, k: CliClass) {
  const r = await byUuid(ctx, k, requireParam(ctx.params, 'uuid'));
  const f = fieldLookup(r.fields, requireParam(ctx.params, 'param-name'));
  const key = getParam(ctx.params, 'param-key');
  if (key !== undefined && f.getMap) {
    const hit = (await f.getMap()).find(([k2]) => k2 === key);
    if (!hit) throw new CliError(`Key ${key} not found in map`);
    ctx.p.list([hit[1]]);
    return;
  }
  ctx.p.list([await f.get()]);
}

async function paramSet(ctx: Ctx, k: CliClass) {
  const r = await byUuid(ctx, k, requireParam(ctx.params, 'uuid'));
  for (const [p, v] of ctx.params) {
    if (p === 'uuid' || STDPARAMS.includes(p)) continue;
    const kind = fieldKind(r.fields, p);
    if (kind.kind === 'set') throw new CliError('Cannot param-set on set fields');
    if (kind.kind === 'map') {
      const f = fieldLookup(r.fields, kind.field);
      if (!f.addToMap || !f.removeFromMap) throw new CliError(`Map field '${kind.field}' is read-only.`);
      if ((await f.getMap!()).some(([mk]) => mk === kind.key)) await f.removeFromMap(kind.key);
      await f.addToMap(kind.key, v);
      continue;
    }
    const f = fieldLookup(r.fields, p);
    if (!f.set) {
      if (f.addToMap) throw new CliError(`Field '${p}' is a map or set. use the 'name:key=value' syntax.`);
      throw new CliError(`Field '${p}' is read-only.`);
    }
    await f.set(v);
  }
}

async function paramAdd(ctx: Ctx, k: CliClass) {
  const r = await byUuid(ctx, k, requireParam(ctx.params, 'uuid'));
  const f = fieldLookup(r.fields, requireParam(ctx.params, 'param-name'));
  if (f.addToSet) {
    const key = getParam(ctx.params, 'param-key');
    if (key === undefined)
      throw new CliError(
        'When adding a key to a set, use the syntax: *-param-add param-name=<name> param-key=<key>',
      );
    await f.addToSet(key);
  } else if (f.addToMap) {
    const skip = ['uuid', 'param-name', 'param-key', ...STDPARAMS];
    for (const [p, v] of ctx.params) if (!skip.includes(p)) await f.addToMap(p, v);
  } else if (f.getSet || f.getMap) throw new CliError('Parameter is read-only');
  else throw new CliError('Can only add to parameters of type Set or Map');
}

async function paramRemove(ctx: Ctx, k: CliClass) {
  const r = await byUuid(ctx, k, requireParam(ctx.params, 'uuid'));
  const f = fieldLookup(r.fields, requireParam(ctx.params, 'param-name'));
  const key = requireParam(ctx.params, 'param-key');
  if (f.getSet && f.removeFromSet) {
    if (!(await f.getSet()).includes(key)) throw new CliError(`Key ${key} is not in the set`);
    await f.removeFromSet(key);
  } else if (f.getMap && f.removeFromMap) {
    if (!(await f.getMap()).some(([mk]) => mk === key)) throw new CliError(`Key ${key} is not in map`);
    await f.removeFromMap(key);
  } else if (f.getSet || f.getMap) throw new CliError('Cannot remove parameters from read-only map');
  else throw new CliError('Can only remove from parameters of type Set or Map');
}

async function paramClear(ctx: Ctx, k: CliClass) {
  const r = await byUuid(ctx, k, requireParam(ctx.params, 'uuid'));
  const f = fieldLookup(r.fields, requireParam(ctx.params, 'param-name'));
  if (f.getSet && f.removeFromSet) for (const v of await f.getSet()) await f.removeFromSet(v);
  else if (f.getMap && f.removeFromMap) for (const [mk] of await f.getMap()) await f.removeFromMap(mk);
  else if (f.set) {
    try {
      await f.set('');
    } catch {
      throw new CliError('Cannot clear this parameter');
    }
  } else throw new CliError('Can only clear RW parameters');
}

/** The generated commands of one class, with xapi's parameter lists and help texts. */
export function genericCommands(k: CliClass): CommandSpec[] {
  const facts = (XAPI_RECORDS[k.record] ?? []).filter((f) => !f.hidden);
  const all = facts.map((f) => f.name);
  const settable = [
    ...facts.filter((f) => f.set).map((f) => f.name),
    ...facts.filter((f) => f.add_to_map).map((f) => `${f.name}:`),
  ];
  const addable = facts.filter((f) => f.add_to_set || f.add_to_map).map((f) => f.name);
  const clearable = facts.filter((f) => f.set || f.get_set || f.get_map).map((f) => f.name);
  const setFilters = facts.filter((f) => f.get_set).map((f) => `${f.name}:contains`);
  const plural = `${k.name}s`;
  const cmd = (
    op: string,
    reqd: string[],
    optn: string[],
    help: string,
    run: (ctx: Ctx, k: CliClass) => Promise<void>,
    standard = false,
  ): CommandSpec => ({
    name: `${k.name}-${op}`,
    reqd,
    optn,
    help,
    flags: standard ? ['Standard'] : [],
    run: (ctx) => run(ctx, k),
  });
  const out = [
    cmd(
      'list',
      [],
      ['params', 'database:', ...all, ...setFilters],
      `Lists all the ${plural}, filtering on the optional arguments. To filter on map parameters, use the syntax 'map-param:key=value'`,
      list,
      ['vm', 'network', 'sr'].includes(k.name),
    ),
    cmd(
      'param-list',
      ['uuid'],
      ['database:'],
      'Lists all the parameters of the object specified by the uuid.',
      paramList,
    ),
    cmd(
      'param-get',
      ['uuid', 'param-name'],
      ['param-key', 'database:'],
      "Gets the parameter specified of the object. If the parameter is a map of key=value pairs, use 'param-key=<key>' to get the value associated with a particular key.",
      paramGet,
    ),
  ];
  if (settable.length)
    out.unshift(
      cmd(
        'param-set',
        ['uuid'],
        settable,
        "Sets the parameter specified. If param-value is not given, the parameter is set to a null value. To set a (key,value) pair in a map parameter, use the syntax 'map-param:key=value'.",
        paramSet,
      ),
    );
  if (addable.length)
    out.push(
      cmd(
        'param-add',
        ['uuid', 'param-name'],
        ['param-key'],
        "Adds to a set or map parameter. If the parameter is a set, use param-key=<key to add>. If the parameter is a map, pass the values to add as 'key=value' pairs.",
        paramAdd,
      ),
      cmd(
        'param-remove',
        ['uuid', 'param-name', 'param-key'],
        [],
        'Removes a member or a key,value pair from a set/map respectively.',
        paramRemove,
      ),
    );
  if (clearable.length)
    out.push(
      cmd(
        'param-clear',
        ['uuid', 'param-name'],
        [],
        `Clears the specified parameter (param-name can be ${clearable.join(',')}).`,
        paramClear,
      ),
    );
  return out;
}

export const GENERIC_COMMANDS: CommandSpec[] = CLI_CLASSES.flatMap(genericCommands);
