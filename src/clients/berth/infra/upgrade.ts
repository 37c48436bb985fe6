// `berth host upgradecheck` / `upgrade` over the host's `updater` plugin (host.call_plugin
// check_update / update): the package updates the host's package manager offers. oVirtCmd's
// statuses and messages are kept: 0 `Nothing to do, up to date`, 1 `Upgraded succeeded`,
// 2 `Upgrade in progress`, 3 `Upgrade not needed`; a failure is 4 (exit 1), a failed check 5
// (exit 2): exit code = status − 3 from 4 on, else 0.
export const UPGRADE_MESSAGES: Record<number, string> = {
  0: 'Nothing to do, up to date',
  1: 'Upgraded succeeded',
  2: 'Upgrade in progress',
  3: 'Upgrade not needed',
};

export const UPGRADE_FAILED = 4;
export const CHECK_FAILED = 5;

export const upgradeExitCode = (status: number): number => (status >= 4 ? status - 3 : 0);

export interface PackageUpdate {
  name: string;
  version: string;
  release: string;
  arch: string;
}

/** check_update's answer (`{"result": [package…]}`) → the updates; throws on anything else. */
export function parseCheckUpdate(text: string): PackageUpdate[] {
  const parsed = JSON.parse(text) as { result?: unknown };
  if (!parsed || !Array.isArray(parsed.result))
    throw new Error('check_update answered without a result list');
  return parsed.result.map((p: Record<string, unknown>) => ({
    name: String(p.name ?? ''),
    version: String(p.version ?? ''),
    release: String(p.release ?? ''),
    arch: String(p.arch ?? ''),
  }));
}

/** One line per update: `name version[-release] arch`. */
export const updateLine = (p: PackageUpdate): string =>
  `${p.name} ${p.release ? `${p.version}-${p.release}` : p.version} ${p.arch}`;
