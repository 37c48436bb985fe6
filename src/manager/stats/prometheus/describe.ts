// HELP texts come from the shared data-source catalog (src/shared/rrd/catalog.ts, §7).
import type { Describe } from './families.js';

// Until the catalog is merged (slice agent-sampler): no description, helpText's generic fallback.
export const catalogDescribe: Describe = () => undefined;
