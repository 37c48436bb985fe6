// The host's package manager behind the updater and netdata plugins: apt/dpkg on Debian hosts,
// dnf or yum with rpm on RPM hosts, chosen by what the host has. Output parsing is pure.
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { type CommandResult, command } from '../command.js';
import { PluginFailure, ProcessError } from '../failure.js';
import type { PackageManagerKind, PluginContext } from '../types.js';

export interface PackageUpdate {
  name: string;
  version: string;
  release: string;
  arch: string;
  fullName: string;
  description: string;
  changelog: null;
  url: string;
  size: string;
  license: string;
}

// --- detection -----------------------------------------------------------------------------

async function onPath(bin: string, path: string): Promise<boolean> {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    try {
      await access(join(dir, bin), constants.X_OK);
      return true;
    } catch {
      /* next */
    }
  }
  return false;
}

export async function detectPackageManager(
  ctx: PluginContext,
  path = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
): Promise<PackageManagerKind> {
  if (ctx.config.packageManager) return ctx.config.packageManager;
  if ((await onPath('apt-get', path)) && (await onPath('dpkg-query', path))) return 'apt';
  if (await onPath('dnf', path)) return 'dnf';
  if (await onPath('yum', path)) return 'yum';
  throw new PluginFailure('-1', 'No supported package manager (apt, dnf, yum) found on this host');
}

// --- package names -------------------------------------------------------------------------

const PACKAGE_RE = /^[A-Za-z0-9][A-Za-z0-9+._~:@-]{0,199}$/;

/** "a, b  c" -> ["a","b","c"]: commas and whitespace separate, duplicates dropped, order kept. */
export function splitPackages(raw: string | undefined): string[] {
  if (!raw) return [];
  const out: string[] = [];
  for (const p of raw.replace(/,/g, ' ').split(/\s+/)) {
    if (p !== '' && !out.includes(p)) out.push(p);
  }
  for (const p of out) {
    // No globs and no leading '-': a name can never become a pattern or an option.
    if (!PACKAGE_RE.test(p)) throw new PluginFailure('-1', `Invalid package name '${p}'`);
  }
  return out;
}

// --- Debian --------------------------------------------------------------------------------

/** "[epoch:]upstream[-revision]" -> parts. */
export function splitDebianVersion(v: string): { epoch: string; upstream: string; revision: string } {
  const c = v.indexOf(':');
  const epoch = c >= 0 ? v.slice(0, c) : '';
  const rest = c >= 0 ? v.slice(c + 1) : v;
  const d = rest.lastIndexOf('-');
  return d >= 0
    ? { epoch, upstream: rest.slice(0, d), revision: rest.slice(d + 1) }
    : { epoch, upstream: rest, revision: '' };
}

/** The Debian spelling of a package build: name_version_arch (version with its epoch). */
export const debianFullName = (name: string, version: string, arch: string) => `${name}_${version}_${arch}`;

/** `apt-get -s upgrade` -> one entry per "Inst" line. */
export function parseAptSimulation(stdout: string): { name: string; version: string; arch: string }[] {
  const out: { name: string; version: string; arch: string }[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^Inst (\S+)(?: \[[^\]]*\])? \((\S+) .*\[([^\]]+)\]\)/.exec(line);
    if (m) out.push({ name: m[1], version: m[2], arch: m[3] });
  }
  return out;
}

/** `apt-cache show` stanzas -> package -> {description, url, size}. */
export function parseAptCacheShow(
  stdout: string,
): Map<string, { description: string; url: string; size: string }> {
  const out = new Map<string, { description: string; url: string; size: string }>();
  for (const stanza of stdout.split(/\n\s*\n/)) {
    const field = (k: string) => new RegExp(`^${k}: (.*)$`, 'm').exec(stanza)?.[1]?.trim() ?? '';
    const name = field('Package');
    if (!name || out.has(name)) continue;
    out.set(name, {
      description: field('Description') || field('Description-en'),
      url: field('Homepage'),
      size: field('Size'),
    });
  }
  return out;
}

export interface DpkgEntry {
  pkg: string;
  binary: string;
  status: string;
  version: string;
  arch: string;
}

/** dpkg-query's -f format: its own ${field} syntax, tab separated (built up so no linter reads it as a template). */
export const DPKG_FORMAT = `${['Package', 'binary:Package', 'db:Status-Abbrev', 'Version', 'Architecture']
  .map((f) => `$\{${f}}`)
  .join('\\t')}\\n`;

export function parseDpkgQuery(stdout: string): DpkgEntry[] {
  return stdout
    .split('\n')
    .filter((l) => l.includes('\t'))
    .map((l) => {
      const [pkg, binary, status, version, arch] = l.split('\t');
      return { pkg, binary, status: status.trim(), version, arch };
    });
}

/** Installed = dpkg status installed, or installed with triggers pending/awaited. */
const dpkgInstalled = (status: string) => ['i', 't', 'W'].includes(status[1] ?? '');

export function mapDpkgInstalled(packages: string[], entries: DpkgEntry[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of packages) {
    const e = entries.find((x) => (x.pkg === p || x.binary === p) && dpkgInstalled(x.status));
    out[p] = e ? debianFullName(e.pkg, e.version, e.arch) : '';
  }
  return out;
}

// --- RPM -----------------------------------------------------------------------------------

/** `dnf/yum check-update` -> updates; rows are "name.arch [epoch:]version-release repo". */
export function parseCheckUpdate(stdout: string): PackageUpdate[] {
  const tokens: string[][] = [];
  let pending: string[] = [];
  for (const line of stdout.split('\n')) {
    if (/^(Obsoleting|Security:|Last metadata)/.test(line)) {
      if (line.startsWith('Obsoleting')) break;
      continue;
    }
    const t = line.trim().split(/\s+/).filter(Boolean);
    if (t.length === 0) continue;
    // yum wraps a long name onto its own line.
    pending = [...pending, ...t];
    if (pending.length >= 3) {
      tokens.push(pending.slice(0, 3));
      pending = [];
    }
  }
  const out: PackageUpdate[] = [];
  for (const [nameArch, evr] of tokens) {
    const dot = nameArch.lastIndexOf('.');
    if (dot <= 0) continue;
    const name = nameArch.slice(0, dot);
    const arch = nameArch.slice(dot + 1);
    const colon = evr.indexOf(':');
    const epoch = colon >= 0 ? evr.slice(0, colon) : '';
    const vr = colon >= 0 ? evr.slice(colon + 1) : evr;
    const dash = vr.lastIndexOf('-');
    if (dash <= 0) continue;
    const version = vr.slice(0, dash);
    const release = vr.slice(dash + 1);
    out.push({
      name,
      version,
      release,
      arch,
      fullName: `${epoch && epoch !== '0' ? `${epoch}:` : ''}${name}-${version}-${release}.${arch}`,
      description: '',
      changelog: null,
      url: '',
      size: '',
      license: '',
    });
  }
  return out;
}

/** `yum/dnf repolist` -> enabled repository ids, in order. */
export function parseRepolist(stdout: string): string[] {
  const out: string[] = [];
  for (const line of stdout.split('\n')) {
    const id = line.trim().split(/\s+/)[0];
    if (!id || /^(repo|repolist|Loaded|Loading|Last)/i.test(id) || id.endsWith(':')) continue;
    out.push(id.replace(/^[*!]+/, '').split('/')[0]);
  }
  return out;
}

/** `rpm -q a b c` -> {a: nevra | ""}; one output line per package or the result is ill-formed. */
export function mapRpmQuery(packages: string[], stdout: string): Record<string, string> {
  const lines = stdout.replace(/\s+$/, '').split('\n');
  if (lines.length !== packages.length) {
    throw new PluginFailure(
      '-1',
      'ill-formed result',
      `rpm -q printed ${lines.length} lines for ${packages.length} packages`,
    );
  }
  const out: Record<string, string> = {};
  packages.forEach((p, i) => {
    out[p] = lines[i].endsWith('is not installed') ? '' : lines[i];
  });
  return out;
}

// --- operations ----------------------------------------------------------------------------

const APT_NONINTERACTIVE = [
  '-y',
  '-q',
  '-o',
  'Dpkg::Options::=--force-confdef',
  '-o',
  'Dpkg::Options::=--force-confold',
];

const aptEnv = (ctx: PluginContext, extra: Record<string, string> = {}) => ({
  DEBIAN_FRONTEND: 'noninteractive',
  ...ctx.config.aptEnv,
  ...extra,
});

/** The repository options for yum/dnf (upstream: defaults + requested, if enabled). */
export async function repoOptions(ctx: PluginContext, pm: 'dnf' | 'yum', extra: string[]): Promise<string[]> {
  const defaults = ctx.config.yumDefaultRepos;
  if (defaults === null && extra.length === 0) return [];
  const wanted = new Set([...(defaults ?? []), ...extra]);
  const r = await command(ctx, [pm, '-q', 'repolist', 'enabled']);
  const chosen = parseRepolist(r.stdout).filter((id) => wanted.has(id));
  return ['--disablerepo=*', `--enablerepo=${chosen.join(',')}`];
}

export async function checkUpdates(ctx: PluginContext, repos: string[]): Promise<PackageUpdate[]> {
  const pm = await detectPackageManager(ctx);
  if (pm !== 'apt') {
    const r = await command(
      ctx,
      [
        pm,
        '-q',
        'check-update',
        ...(ctx.config.refreshPackageLists ? [] : ['-C']),
        ...(await repoOptions(ctx, pm, repos)),
      ],
      { check: false, timeoutMs: ctx.config.packageTimeoutMs },
    );
    // check-update exits 100 when updates exist, 0 when there are none.
    if (r.returncode !== 0 && r.returncode !== 100)
      throw new ProcessError(r.returncode, r.command, r.stdout, r.stderr);
    return parseCheckUpdate(r.stdout);
  }
  const env = aptEnv(ctx);
  if (ctx.config.refreshPackageLists) {
    await command(ctx, ['apt-get', 'update', '-q'], { env, timeoutMs: ctx.config.packageTimeoutMs });
  }
  // A simulation needs no lock and changes nothing.
  const sim = await command(
    ctx,
    ['apt-get', '-s', '-q', '-o', 'Debug::NoLocking=1', '--with-new-pkgs', 'upgrade'],
    { env },
  );
  const pending = parseAptSimulation(sim.stdout);
  let details = new Map<string, { description: string; url: string; size: string }>();
  if (pending.length > 0) {
    const show = await command(
      ctx,
      ['apt-cache', 'show', '--no-all-versions', ...pending.map((p) => p.name)],
      {
        env,
        check: false,
      },
    );
    details = parseAptCacheShow(show.stdout);
  }
  return pending.map((p) => {
    const v = splitDebianVersion(p.version);
    const d = details.get(p.name);
    return {
      name: p.name,
      version: v.upstream,
      release: v.revision,
      arch: p.arch,
      fullName: debianFullName(p.name, p.version, p.arch),
      description: d?.description ?? '',
      changelog: null,
      url: d?.url ?? '',
      size: d?.size ?? '',
      license: '',
    };
  });
}

/** update (packages optional: everything) or install (packages required). */
export async function applyPackages(
  ctx: PluginContext,
  action: 'update' | 'install',
  packages: string[],
  repos: string[],
): Promise<CommandResult> {
  const pm = await detectPackageManager(ctx);
  const timeoutMs = ctx.config.packageTimeoutMs;
  if (pm !== 'apt') {
    return command(ctx, [pm, action, ...(await repoOptions(ctx, pm, repos)), '-y', ...packages], {
      timeoutMs,
    });
  }
  const env = aptEnv(ctx);
  if (ctx.config.refreshPackageLists) await command(ctx, ['apt-get', 'update', '-q'], { env, timeoutMs });
  const argv =
    action === 'install'
      ? ['apt-get', ...APT_NONINTERACTIVE, 'install', ...packages]
      : packages.length > 0
        ? ['apt-get', ...APT_NONINTERACTIVE, 'install', '--only-upgrade', ...packages]
        : ['apt-get', ...APT_NONINTERACTIVE, '--with-new-pkgs', 'upgrade'];
  return command(ctx, argv, { env, timeoutMs });
}

export async function queryInstalled(
  ctx: PluginContext,
  packages: string[],
): Promise<Record<string, string>> {
  if (packages.length === 0) return {};
  const pm = await detectPackageManager(ctx);
  if (pm === 'apt') {
    // dpkg-query exits 1 when some name is unknown; the others are still printed.
    const r = await command(ctx, ['dpkg-query', '-W', '-f', DPKG_FORMAT, ...packages], {
      check: false,
      env: ctx.config.aptEnv,
    });
    if (r.returncode > 1) throw new ProcessError(r.returncode, r.command, r.stdout, r.stderr);
    return mapDpkgInstalled(packages, parseDpkgQuery(r.stdout));
  }
  const r = await command(ctx, ['rpm', '-q', ...packages], { check: false });
  return mapRpmQuery(packages, r.stdout);
}
