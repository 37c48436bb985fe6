// Which session roots belong to a host. An agent device plugin's session runs for one (host,
// plugin) under the root `host/<host uuid>/<plugin>`; a root that is the host's uuid itself (a
// controller-style root a user named after the host, the convention before device plugins) is the
// host's too. Pure: the roots come from the store, the uuid from the database.

import { agentRoot, parseAgentRoot } from '../agent-feed/roots.js';

/** The root of a host's agent device plugin session (agent-feed/roots.ts names them). */
export const hostPluginRoot = agentRoot;

/** The host uuid of a `host/<uuid>/<plugin>` root; undefined for any other root. */
export const hostUuidOfRoot = (root: string): string | undefined => parseAgentRoot(root)?.hostUuid;

export const isRootOfHost = (root: string, hostUuid: string) =>
  hostUuid !== '' && (root === hostUuid || hostUuidOfRoot(root) === hostUuid);

/** The roots among `roots` that report for the host, in the order given. */
export const rootsOfHost = (roots: readonly string[], hostUuid: string) =>
  roots.filter((r) => isRootOfHost(r, hostUuid));
