// The command table: every generated and hand-written command by name.
import type { CommandSpec } from '../context.js';
import { DATA_SOURCE_COMMANDS } from './data-sources.js';
import { EVACUATE_COMMANDS } from './evacuate.js';
import { EXPORT_COMMANDS } from './export.js';
import { EXTERNAL_AUTH_COMMANDS } from './external-auth.js';
import { GENERIC_COMMANDS } from './generic.js';
import { HOOKS_COMMANDS } from './hooks.js';
import { HOST_OPS_COMMANDS } from './host-ops.js';
import { IMPORT_COMMANDS } from './import.js';
import { MASTER_IP_COMMANDS } from './master-ip.js';
import { NODE_STORAGE_COMMANDS } from './node-storage.js';
import { OBJECT_COMMANDS } from './objects.js';
import { OS_COMMANDS } from './os.js';
import { POOL_COMMANDS } from './pool.js';
import { SNAPSHOT_COMMANDS } from './snapshot.js';
import { STORAGE_MIGRATE_COMMANDS } from './storage-migrate.js';
import { STORAGE_RESOURCE_COMMANDS } from './storage-resources.js';
import { VDI_TRANSFER_COMMANDS } from './vdi-transfer.js';
import { VM_COMMANDS } from './vm.js';

export function commandTable(): Map<string, CommandSpec> {
  const t = new Map<string, CommandSpec>();
  for (const c of [
    ...GENERIC_COMMANDS,
    ...VM_COMMANDS,
    ...OBJECT_COMMANDS,
    ...EVACUATE_COMMANDS,
    ...POOL_COMMANDS,
    ...SNAPSHOT_COMMANDS,
    ...VDI_TRANSFER_COMMANDS,
    ...EXPORT_COMMANDS,
    ...IMPORT_COMMANDS,
    ...STORAGE_MIGRATE_COMMANDS,
    ...DATA_SOURCE_COMMANDS,
    ...STORAGE_RESOURCE_COMMANDS,
    ...NODE_STORAGE_COMMANDS,
    ...HOOKS_COMMANDS,
    ...HOST_OPS_COMMANDS,
    ...OS_COMMANDS,
    ...MASTER_IP_COMMANDS,
    ...EXTERNAL_AUTH_COMMANDS,
  ])
    t.set(c.name, c);
  return t;
}
