// Berth's product identity, reported in host.software_version and by every daemon's `version`.
export const PRODUCT_BRAND = 'Berth';
export const BERTH_VERSION = '0.1.0';
/**
 * The xapi platform line Berth is compatible with (XCP-ng 8.3 / XenServer 8 report 3.4.x with API
 * 2.21). Xen Orchestra gates features on software_version.platform_version, so this says which
 * xapi behaviour Berth follows, not which code it runs.
 */
export const PLATFORM_VERSION = '3.4.0';
