// netdata.py: install netdata with streaming to a parent, tell whether it runs, read its API key.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { required } from '../args.js';
import { command } from '../command.js';
import { PluginFailure } from '../failure.js';
import { definePlugin } from '../types.js';
import { applyPackages } from './package-manager.js';

/** The stream.conf upstream writes (a netdata child streaming to `destination`). */
export function renderStreamConf(apiKey: string, destination: string): string {
  return [
    '# do not edit, managed by XCP-ng',
    '',
    '[stream]',
    '    enabled = yes',
    `    destination = ${destination}`,
    `    api key = ${apiKey}`,
    '    timeout seconds = 60',
    '    default port = 19999',
    '    send charts matching = *',
    '    buffer size bytes = 1048576',
    '    reconnect delay seconds = 5',
    '    initial clock resync iterations = 60',
    '',
  ].join('\n');
}

/** The first `api key = ...` value, comments dropped; "" when there is none. */
export function parseApiKey(text: string): string {
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line.startsWith('api key')) {
      const i = line.indexOf('=');
      return i >= 0 ? line.slice(i + 1).trim() : '';
    }
  }
  return '';
}

/** One config value on one line: nothing that could start another line, section or comment. */
function checkValue(name: string, value: string): string {
  if (value.trim() === '' || /[\r\n#[\]]/.test(value)) {
    throw new PluginFailure('-1', `Invalid ${name} '${value}'`);
  }
  return value.trim();
}

export const netdata = definePlugin('netdata', {
  async is_netdata_installed(_args, ctx) {
    try {
      await command(ctx, ['service', 'netdata', 'status']);
      return 'true';
    } catch {
      return 'false';
    }
  },

  install_netdata(args, ctx) {
    const apiKey = checkValue('api_key', required(args, 'api_key'));
    const destination = checkValue('destination', required(args, 'destination'));
    return ctx.locks.busy('netdata').with(async () => {
      await applyPackages(ctx, 'install', ['netdata'], []);
      const path = ctx.config.netdataStreamConf;
      await mkdir(dirname(path), { recursive: true });
      const tmp = `${path}.berth-tmp`;
      await writeFile(tmp, renderStreamConf(apiKey, destination), { mode: 0o640 });
      await rename(tmp, path);
      await command(ctx, ['service', 'netdata', 'restart']);
      return 'true';
    });
  },

  async get_netdata_api_key(_args, ctx) {
    try {
      return parseApiKey(await readFile(ctx.config.netdataStreamConf, 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw e;
    }
  },
});
