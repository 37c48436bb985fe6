// The one place the API gets its BerthObjectLinks (storage-resources/links/types.ts): a test's
// override (Services.storageObjectLinks), else the runtime's links on the XenAPI database, else
// (a runtime started without the database) links that know the resource graph only.
import type {
  AffectedObjects,
  BerthObjectLinks,
  VmDependencies,
} from '../../storage-resources/links/types.js';
import type { ResourceQueries } from '../../storage-resources/queries.js';
import type { Services } from '../context.js';

export function resourceOnlyLinks(queries: Pick<ResourceQueries, 'descendants'>): BerthObjectLinks {
  return {
    srResources: () => [],
    resourceSrs: () => [],
    affectedBy: (id): AffectedObjects => ({
      resources: [id, ...queries.descendants(id)],
      srs: [],
      vdis: [],
      vbds: [],
      vms: [],
    }),
    dependenciesOfVm: (): VmDependencies => ({ vbds: [], vdis: [], srs: [], resources: [] }),
  };
}

export function objectLinks(svc: Services, queries: ResourceQueries): BerthObjectLinks {
  return svc.storageObjectLinks ?? svc.storageResources?.links ?? resourceOnlyLinks(queries);
}
