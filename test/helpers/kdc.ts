// A real MIT KDC (Debian's krb5-kdc) for a test: a fresh realm database in a temp dir
// (kdb5_util), principals with random keys exported to keytabs (kadmin.local), and krb5kdc
// listening on a free loopback port. KRB5_CONFIG points this process at the realm while the test
// runs (the manager runs in-process and the client code reads it too); the KDC is stopped and
// the variable restored when the test ends.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { freePort } from './prometheus-server.js';
import { tempDir } from './tmp.js';

const TOOLS = ['/usr/sbin/krb5kdc', '/usr/sbin/kdb5_util', '/usr/sbin/kadmin.local', '/usr/bin/kinit'];

/** Why a KDC cannot run here (undefined: it can). */
export function kdcUnavailable(): string | undefined {
  const missing = TOOLS.filter((p) => !existsSync(p));
  return missing.length
    ? `MIT Kerberos tools missing: ${missing.join(', ')} (scripts/install-deps.sh)`
    : undefined;
}

export interface Kdc {
  realm: string;
  dir: string;
  /** The krb5.conf clients use (also exported as KRB5_CONFIG while the test runs). */
  krb5Conf: string;
  /** Adds a principal with a random key and writes its keys to a new keytab; its path. */
  addPrincipal(name: string, keytabName?: string): string;
  /** The KDC's log so far (for failure messages). */
  log(): string;
}

export async function startKdc(t: TestContext, realm = 'BERTH.TEST'): Promise<Kdc> {
  let proc: ChildProcess | undefined;
  const savedConfig = process.env.KRB5_CONFIG;
  t.after(async () => {
    if (savedConfig === undefined) delete process.env.KRB5_CONFIG;
    else process.env.KRB5_CONFIG = savedConfig;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc?.once('exit', r));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc?.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  });
  const dir = tempDir(t, 'berth-kerberos-kdc-');
  const port = await freePort();
  const kdcConf = join(dir, 'kdc.conf');
  const krb5Conf = join(dir, 'krb5.conf');
  const logFile = join(dir, 'kdc.log');
  writeFileSync(
    kdcConf,
    [
      '[kdcdefaults]',
      ` kdc_listen = 127.0.0.1:${port}`,
      ` kdc_tcp_listen = 127.0.0.1:${port}`,
      '[realms]',
      ` ${realm} = {`,
      `  database_name = ${join(dir, 'principal')}`,
      `  key_stash_file = ${join(dir, 'stash')}`,
      `  acl_file = ${join(dir, 'kadm5.acl')}`,
      `  kdc_listen = 127.0.0.1:${port}`,
      `  kdc_tcp_listen = 127.0.0.1:${port}`,
      '  max_life = 1h',
      ' }',
      '[logging]',
      ` kdc = FILE:${logFile}`,
      '',
    ].join('\n'),
  );
  // No DNS anywhere: the service host is used as written (127.0.0.1), the KDC named directly.
  writeFileSync(
    krb5Conf,
    [
      '[libdefaults]',
      ` default_realm = ${realm}`,
      ' dns_lookup_kdc = false',
      ' dns_lookup_realm = false',
      ' rdns = false',
      ' dns_canonicalize_hostname = false',
      '[realms]',
      ` ${realm} = {`,
      `  kdc = 127.0.0.1:${port}`,
      ' }',
      '',
    ].join('\n'),
  );
  const env = { ...process.env, KRB5_CONFIG: krb5Conf, KRB5_KDC_PROFILE: kdcConf };
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { env, stdio: 'pipe' });
  run('/usr/sbin/kdb5_util', ['create', '-s', '-r', realm, '-P', `master-${port}-${process.pid}`]);
  proc = spawn('/usr/sbin/krb5kdc', ['-n', '-r', realm], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (c) => {
    stderr += String(c);
  });
  const log = () => `${stderr}${existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''}`;
  const deadline = Date.now() + 10_000;
  while (!log().includes('commencing operation')) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`krb5kdc did not start:\n${log()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  process.env.KRB5_CONFIG = krb5Conf;
  return {
    realm,
    dir,
    krb5Conf,
    log,
    addPrincipal(name, keytabName = `${name.replace(/\W/g, '_')}.keytab`) {
      const keytab = join(dir, keytabName);
      run('/usr/sbin/kadmin.local', ['-r', realm, '-q', `addprinc -randkey ${name}`]);
      run('/usr/sbin/kadmin.local', ['-r', realm, '-q', `ktadd -k ${keytab} ${name}`]);
      return keytab;
    },
  };
}
