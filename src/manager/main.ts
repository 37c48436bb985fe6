// berth-manager: the XenAPI server daemon.
import { logger } from '../shared/log.js';
import { parseConfig, USAGE } from './config.js';
import { Manager } from './manager.js';

const log = logger('main');

async function main() {
  let config: ReturnType<typeof parseConfig>;
  try {
    config = parseConfig(process.argv.slice(2), process.env);
  } catch (e) {
    process.stderr.write(`berth-manager: ${e instanceof Error ? e.message : String(e)}\n${USAGE}`);
    process.exit(2);
  }
  if (config.help) {
    process.stdout.write(USAGE);
    return;
  }
  // BERTH_DEFAULT_NETWORK=0: no default bridge (test hosts that must not add host interfaces).
  const manager = await Manager.open(config, {
    networking:
      process.env.BERTH_NETWORKING === '0'
        ? false
        : { defaultNetwork: process.env.BERTH_DEFAULT_NETWORK !== '0' },
  });
  const where = await manager.listen();
  log.info('listening', { ...where, dataDir: config.dataDir });
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    await manager.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  // A bug in one request must not take the daemon (and every client's session) down.
  process.on('uncaughtException', (e) => log.error('uncaught exception', { error: e.stack ?? String(e) }));
  process.on('unhandledRejection', (e) =>
    log.error('unhandled rejection', { error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
  );
}

main().catch((e) => {
  process.stderr.write(`berth-manager: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
