// VM.pool_migrate: a running VM moves to another host of the pool, its disks on storage both
// hosts reach (vm/migrate.ts does the work; docs/migration.md).
import { migrateVm, parseMigrateOptions } from '../vm/migrate.js';
import type { HandlerTable } from './context.js';

export const vmMigrateApi: HandlerTable = {
  handlers: {
    'VM.pool_migrate': async (ctx, vm, host, options) => {
      const { db } = ctx.svc;
      db.mustGet('VM', vm);
      db.mustGet('host', host);
      await migrateVm(ctx.svc, ctx.task, vm, host, parseMigrateOptions(options as Record<string, string>));
    },
  },
};
