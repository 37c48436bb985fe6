// The placement questions of the API: where a VM can boot (VM.assert_can_boot_here,
// VM.get_possible_hosts) and the memory figures placement uses (host.compute_free_memory,
// host.compute_memory_overhead, VM.compute_memory_overhead). Rules: vm/placement.ts.
import { checkOperation } from '../vm/lifecycle.js';
import {
  bootError,
  hostFreeMemory,
  hostMemoryOverhead,
  possibleHosts,
  vmMemoryOverhead,
} from '../vm/placement.js';
import { poolView } from '../vm/reservation.js';
import { cpuCompatError } from '../validation/start-checks.js';
import type { HandlerTable } from './context.js';

export const placementApi: HandlerTable = {
  handlers: {
    'VM.get_possible_hosts': (ctx, vm: string) => {
      ctx.svc.db.mustGet('VM', vm);
      return possibleHosts(poolView(ctx.svc), vm);
    },
    /**
     * Could the VM be started (Halted) or resumed (Suspended) on the host now, or (Running) be
     * migrated there? A halted or suspended VM must also be able to start or resume at all; a
     * running one gets the host checks only, as on xapi (its own host passes: a migration within
     * the host).
     */
    'VM.assert_can_boot_here': (ctx, vm: string, host: string) => {
      const { db } = ctx.svc;
      db.mustGet('host', host);
      const rec = db.mustGet('VM', vm);
      const op = rec.power_state === 'Suspended' ? 'resume' : 'start';
      const e =
        (rec.power_state === 'Running' ? undefined : checkOperation(vm, rec, op)) ??
        bootError(poolView(ctx.svc), vm, host, { cpuCheck: cpuCompatError });
      if (e) throw e;
    },
    'VM.compute_memory_overhead': (ctx, vm: string) => vmMemoryOverhead(ctx.svc.db.mustGet('VM', vm)),
    'host.compute_free_memory': (ctx, host: string) => {
      ctx.svc.db.mustGet('host', host);
      return hostFreeMemory(ctx.svc.db, host);
    },
    'host.compute_memory_overhead': (ctx, host: string) => {
      const row = ctx.svc.db.mustGet('host', host);
      return hostMemoryOverhead(row, ctx.svc.db.get('host_metrics', String(row.metrics)));
    },
  },
};
