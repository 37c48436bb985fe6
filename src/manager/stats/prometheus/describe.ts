// HELP texts come from the shared data-source catalog (§7): description and units of each name.
import { dataSourceSpec } from '../../../shared/rrd/catalog.js';
import type { Describe } from './families.js';

/** A name outside the catalog (a plugin's) gets helpText's generic line. */
export const catalogDescribe: Describe = (owner, name) => {
  const s = dataSourceSpec(owner, name);
  return s ? { description: s.description, units: s.units } : undefined;
};
