// berth-agent: the host agent daemon (root). VMs keep running when it stops or dies; the next
// agent re-adopts them.
import { parseArgs } from 'node:util';
import { readHostOpsConfig } from './host-ops/config-file.js';
import { logger } from '../shared/log.js';
import { startAgent } from './agent.js';
import { detectAccel } from './qemu/accel.js';
import { DEFAULT_ID_RANGE, parseIdRange } from './qemu/identity.js';
import { lookupUser, qemuRunAs } from './qemu/proc.js';
import { parseListenAddress } from './tls.js';

const log = logger('agent-main');

const USAGE = `Usage: berth-agent [options]
  --socket PATH      RPC socket (root-only)            [BERTH_AGENT_SOCKET, /run/berth/agent.sock]
  --listen-tcp ADDR[:PORT]  also serve the pool master over TCP, mutual TLS only
                     (port 1811; needs the pool certificates in --pki-dir) [BERTH_AGENT_LISTEN_TCP]
  --pki-dir DIR      pool CA and host certificate      [BERTH_PKI_DIR, /var/lib/berth/pki]
  --run-dir DIR      per-VM runtime directories        [BERTH_AGENT_RUN_DIR, /run/berth/vms]
  --log-dir DIR      per-VM serial console logs        [BERTH_AGENT_LOG_DIR, /var/log/berth/vms]
  --state-root DIR   where suspend images may live     [BERTH_STATE_ROOT, /var/lib/berth]
  --sr-root DIR      SR paths must lie under it (repeatable; storage journals in STATE-ROOT/storage)
                     [BERTH_SR_ROOTS, colon-separated; STATE-ROOT/sr]
  --extstorage-dir DIR  ExtStorage providers are looked up only here (repeatable)
                     [BERTH_EXTSTORAGE_DIRS, colon-separated;
                     /srv/berth/extstorage and STATE-ROOT/extstorage]
  --accel kvm|tcg    override accelerator detection    [BERTH_ACCEL]
  --run-as USER      QEMU drops to this user (-runas)  [BERTH_QEMU_USER, berth-qemu if it exists]
                     ("root" keeps QEMU as root)
  --netns NAME       do the host's networking (bridges, TAPs, NICs) in this network namespace
                     [BERTH_AGENT_NETNS; default: the agent's own namespace]
  --nic-kinds K,K    virtual link kinds PIF.scan reports as NICs, e.g. veth [BERTH_NIC_KINDS]
  --stats-archive-interval SECONDS  how often the RRDs are written to STATE-ROOT/rrd (a SIGKILL
                     loses at most this much history)  [BERTH_STATS_ARCHIVE_INTERVAL, 60]
  --no-stats-sampling  no 5 s statistics cycle (RRDs still served and archived)
                     [BERTH_STATS_SAMPLING=off]
  --host-ops-config FILE  host operations' allow-lists and power commands (JSON; see
                     docs/host-operations.md) [BERTH_HOST_OPS_CONFIG]
  --master-ip-device DEV  a device (besides Berth's bridges) that may carry the pool's floating
                     master IP (repeatable) [BERTH_MASTER_IP_DEVICES, comma-separated]
  --no-device-plugins  run no storage device plugins (the built-in linux one reports this
                     host's disks, LVM, md, ZFS, SMART, mounts and NICs to the pool master)
                     [BERTH_DEVICE_PLUGINS=off]
  --hooks-dir DIR    site hooks: DIR/<operation>-{pre,post}.d/* (docs/hooks.md)
                     [BERTH_HOOKS_DIR, /etc/berth/hooks]
  --iallocator-dir DIR  external VM placement programs (docs/hooks.md)
                     [BERTH_IALLOCATOR_DIR, /etc/berth/iallocators]
  --hook-timeout SECONDS  time limit of each hook script and iallocator [BERTH_HOOK_TIMEOUT, 60]
  --os-path DIR      where OS definitions live (repeatable) [BERTH_OS_PATH, colon-separated;
                     /srv/berth/os and STATE-ROOT/os]
  Under berth-qemu each VM's QEMU gets its own uid/gid from 1900000000:10000
  [BERTH_QEMU_IDS=BASE:COUNT to move the range, "off" for berth-qemu's own uid for all]
`;

async function main() {
  const { values } = parseArgs({
    options: {
      socket: { type: 'string' },
      'listen-tcp': { type: 'string' },
      'pki-dir': { type: 'string' },
      'run-dir': { type: 'string' },
      'log-dir': { type: 'string' },
      'state-root': { type: 'string' },
      'sr-root': { type: 'string', multiple: true },
      'extstorage-dir': { type: 'string', multiple: true },
      accel: { type: 'string' },
      'run-as': { type: 'string' },
      netns: { type: 'string' },
      'nic-kinds': { type: 'string' },
      'stats-archive-interval': { type: 'string' },
      'no-stats-sampling': { type: 'boolean' },
      'no-device-plugins': { type: 'boolean' },
      'hooks-dir': { type: 'string' },
      'iallocator-dir': { type: 'string' },
      'hook-timeout': { type: 'string' },
      'host-ops-config': { type: 'string' },
      'os-path': { type: 'string', multiple: true },
      'master-ip-device': { type: 'string', multiple: true },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const env = process.env;
  const accel = detectAccel({ ...env, BERTH_ACCEL: values.accel ?? env.BERTH_ACCEL });
  // An explicit user must exist; the default berth-qemu is used only where it exists.
  const explicit = values['run-as'] ?? env.BERTH_QEMU_USER;
  if (explicit && explicit !== 'root' && !lookupUser(explicit)) throw new Error(`unknown user ${explicit}`);
  const runAs = qemuRunAs(explicit);
  const listenTcp = values['listen-tcp'] ?? env.BERTH_AGENT_LISTEN_TCP;
  const nicKinds = (values['nic-kinds'] ?? env.BERTH_NIC_KINDS ?? '').split(',').filter(Boolean);
  const archiveSeconds = Number(values['stats-archive-interval'] ?? env.BERTH_STATS_ARCHIVE_INTERVAL ?? 60);
  if (!Number.isFinite(archiveSeconds) || archiveSeconds < 1 || archiveSeconds > 86_400)
    throw new Error(`--stats-archive-interval: seconds from 1 to 86400, not ${archiveSeconds}`);
  const hookSeconds = Number(values['hook-timeout'] ?? env.BERTH_HOOK_TIMEOUT ?? 60);
  if (!Number.isFinite(hookSeconds) || hookSeconds < 1 || hookSeconds > 3600)
    throw new Error(`--hook-timeout: seconds from 1 to 3600, not ${hookSeconds}`);
  const hostOpsConfigFile = values['host-ops-config'] ?? env.BERTH_HOST_OPS_CONFIG;
  const sampling = !values['no-stats-sampling'] && env.BERTH_STATS_SAMPLING !== 'off';
  const agent = await startAgent({
    socketPath: values.socket ?? env.BERTH_AGENT_SOCKET ?? '/run/berth/agent.sock',
    pkiDir: values['pki-dir'] ?? env.BERTH_PKI_DIR ?? '/var/lib/berth/pki',
    tcp: listenTcp ? parseListenAddress(listenTcp) : undefined,
    runRoot: values['run-dir'] ?? env.BERTH_AGENT_RUN_DIR ?? '/run/berth/vms',
    logRoot: values['log-dir'] ?? env.BERTH_AGENT_LOG_DIR ?? '/var/log/berth/vms',
    stateRoots: [values['state-root'] ?? env.BERTH_STATE_ROOT ?? '/var/lib/berth'],
    storage: {
      roots: values['sr-root'] ?? env.BERTH_SR_ROOTS?.split(':').filter(Boolean),
      extStorageDirs: values['extstorage-dir'] ?? env.BERTH_EXTSTORAGE_DIRS?.split(':').filter(Boolean),
    },
    accel,
    runAs: runAs || undefined,
    // Per-VM identities go with the berth-qemu set-up (its presence is what berth-up.sh leaves);
    // another --run-as user keeps the one shared uid.
    idRange:
      runAs === 'berth-qemu' && env.BERTH_QEMU_IDS !== 'off'
        ? env.BERTH_QEMU_IDS
          ? parseIdRange(env.BERTH_QEMU_IDS)
          : DEFAULT_ID_RANGE
        : undefined,
    network: { netns: values.netns ?? env.BERTH_AGENT_NETNS ?? undefined, nicKinds },
    stats: { archiveIntervalMs: archiveSeconds * 1000, sampler: sampling ? undefined : false },
    os: { searchPaths: values['os-path'] ?? env.BERTH_OS_PATH?.split(':').filter(Boolean) },
    devicePlugins: values['no-device-plugins'] || env.BERTH_DEVICE_PLUGINS === 'off' ? false : undefined,
    hooks: {
      dir: values['hooks-dir'] ?? env.BERTH_HOOKS_DIR,
      iallocatorDir: values['iallocator-dir'] ?? env.BERTH_IALLOCATOR_DIR,
      timeoutMs: hookSeconds * 1000,
      iallocatorTimeoutMs: hookSeconds * 1000,
    },
    hostOps: hostOpsConfigFile ? readHostOpsConfig(hostOpsConfigFile) : undefined,
    masterIp: {
      devices: values['master-ip-device'] ?? (env.BERTH_MASTER_IP_DEVICES ?? '').split(',').filter(Boolean),
    },
  });
  const stop = async () => {
    await agent.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  process.on('uncaughtException', (e) => log.error('uncaught exception', { error: e.stack ?? String(e) }));
  process.on('unhandledRejection', (e) => log.error('unhandled rejection', { error: String(e) }));
}

main().catch((e) => {
  process.stderr.write(`berth-agent: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
