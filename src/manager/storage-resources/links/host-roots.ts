// Which session roots belong to a host. An agent device plugin's session runs for one (host,
// plugin) under the root `host/<host uuid>/<plugin>`; a root that is the host's uuid itself (a
// controller-style root a user named after the host, the convention before device plugins) is the
// host's too. Pure: the roots come from the store, the uuid from the database.

const PREFIX = 'host/';

/** The root of a host's agent device plugin session. */
export const hostPluginRoot = (hostUuid: string, plugin: string) => `${PREFIX}${hostUuid}/${plugin}`;

/** The host uuid of a `host/<uuid>/<plugin>` root; undefined for any other root. */
export function hostUuidOfRoot(root: string): string | undefined {
  if (!root.startsWith(PREFIX)) return undefined;
  const rest = root.slice(PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1) return undefined;
  return rest.slice(0, slash);
}

export const isRootOfHost = (root: string, hostUuid: string) =>
  hostUuid !== '' && (root === hostUuid || hostUuidOfRoot(root) === hostUuid);

/** The roots among `roots` that report for the host, in the order given. */
export const rootsOfHost = (roots: readonly string[], hostUuid: string) =>
  roots.filter((r) => isRootOfHost(r, hostUuid));
