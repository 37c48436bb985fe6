// File transfers beside the API (XVA export/import, raw/vhd/qcow2 disk download/upload) over the
// manager's data-plane HTTP handlers (/export, /import, /export_raw_vdi, /import_raw_vdi), as xe
// does them: a task created first and named in the query (the handler reports through it and
// takes its progress), the body streamed without holding the file in memory, 302 to the host
// that holds the disks followed. Progress: bytes against the length when known, else the task's.
// Loaded lazily (`await import`) by the verbs that transfer.
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { XenApiError } from '../../shared/errors.js';
import type { Api } from './api.js';
import { CliError, EXIT_USAGE } from './errors.js';
import { sleep, waitTask } from './nouns/compute-common.js';
import type { Output } from './spec.js';

const MAX_REDIRECTS = 5;

interface Target {
  mod: typeof http | typeof https;
  options: https.RequestOptions;
}

/** Where `pathAndQuery` (or a redirect's absolute URL) is sent, from the client's endpoint. */
function targetOf(api: Api, location: string): Target {
  const ep = api.client.endpoint;
  if (/^https?:\/\//.test(location)) {
    // Another host of the pool (a 302 to the disks' host): the same TLS settings, its own agent.
    const u = new URL(location);
    const secure = u.protocol === 'https:';
    const tlsOptions = (ep.agent as https.Agent).options ?? {};
    return {
      mod: secure ? https : http,
      options: {
        host: u.hostname,
        port: u.port || undefined,
        path: `${u.pathname}${u.search}`,
        ...(secure ? { rejectUnauthorized: tlsOptions.rejectUnauthorized, ca: tlsOptions.ca } : {}),
      },
    };
  }
  if (ep.socketPath)
    return { mod: http, options: { socketPath: ep.socketPath, path: location, agent: ep.agent } };
  const base = new URL(ep.url ?? 'http://localhost/');
  return {
    mod: base.protocol === 'https:' ? https : http,
    options: {
      host: base.hostname,
      port: base.port || undefined,
      path: `${base.pathname.replace(/\/$/, '')}${location}`,
      agent: ep.agent,
    },
  };
}

function withQuery(path: string, query: Record<string, string>): string {
  return `${path}?${new URLSearchParams(query).toString()}`;
}

/** Counts the bytes going through and reports them against `total`. */
function counter(onBytes: (n: number) => void): Transform {
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      n += chunk.length;
      onBytes(n);
      cb(null, chunk);
    },
  });
}

async function statusError(res: IncomingMessage): Promise<CliError> {
  const chunks: Buffer[] = [];
  for await (const c of res) {
    chunks.push(c as Buffer);
    if (chunks.length > 16) break;
  }
  const text = Buffer.concat(chunks).toString('utf8').trim().slice(0, 300);
  return new CliError(`Server replied with HTTP ${res.statusCode}${text ? `: ${text}` : ''}`);
}

/**
 * After an HTTP refusal: the task's own error when the handler failed it (the real reason, a
 * XenAPI code), else `fallback`. The task is destroyed either way.
 */
async function failedTaskError(api: Api, task: string, fallback: Error): Promise<Error> {
  try {
    for (let i = 0; i < 8; i++) {
      const t = (await api.call('task.get_record', task)) as Record<string, unknown>;
      if (t.status === 'failure') {
        const info = (t.error_info as string[] | undefined) ?? [];
        if (info.length) return new XenApiError(info[0], info.slice(1));
      }
      if (t.status !== 'pending') break;
      await sleep(250);
    }
    return fallback;
  } finally {
    await api.call('task.destroy', task).catch(() => undefined);
  }
}

/** Reports the task's progress until `done` resolves (exports of unknown length). */
function followTaskProgress(api: Api, task: string, out: Output, label: string, done: () => boolean) {
  return (async () => {
    while (!done()) {
      const p = await api.call('task.get_progress', task).catch(() => undefined);
      if (typeof p === 'number') out.progress(label, p);
      await sleep(300);
    }
  })();
}

/**
 * GET `path` into a new local file (never overwritten: O_EXCL, mode 0600). Resolves once the
 * task the handler reported through has succeeded.
 */
export async function download(
  api: Api,
  out: Output,
  o: { path: string; query: Record<string, string>; file: string; label: string },
): Promise<void> {
  const session = api.client.sessionRef ?? '';
  const task = (await api.call('task.create', o.label, `berth ${o.label}`)) as string;
  let location = withQuery(o.path, { ...o.query, session_id: session, task_id: task });
  let finished = false;
  try {
    for (let hop = 0; ; hop++) {
      const { mod, options } = targetOf(api, location);
      const res = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = mod.request({ ...options, method: 'GET' }, resolve);
        req.once('error', reject);
        req.end();
      });
      if (res.statusCode === 302 && res.headers.location && hop < MAX_REDIRECTS) {
        res.resume();
        location = res.headers.location;
        continue;
      }
      if (res.statusCode !== 200) throw await failedTaskError(api, task, await statusError(res));
      const file = createWriteStream(o.file, { flags: 'wx', mode: 0o600 });
      await new Promise<void>((resolve, reject) => {
        file.once('open', () => resolve());
        file.once('error', (e) => {
          res.destroy();
          reject(new CliError(`cannot write ${o.file}: ${e.message}`, EXIT_USAGE));
        });
      });
      const total = Number(res.headers['content-length'] ?? 0);
      const poller = total > 0 ? undefined : followTaskProgress(api, task, out, o.label, () => finished);
      try {
        await pipeline(
          res,
          counter((n) => total > 0 && out.progress(o.label, n / total)),
          file,
        );
      } finally {
        finished = true;
        await poller;
      }
      break;
    }
  } finally {
    finished = true;
  }
  await waitTask(api, task, out, o.label);
}

/** PUT a local regular file to `path`; resolves with the task's result (an XML-RPC fragment). */
export async function upload(
  api: Api,
  out: Output,
  o: { path: string; query: Record<string, string>; file: string; label: string },
): Promise<string> {
  let size: number;
  try {
    const st = statSync(o.file);
    if (!st.isFile()) throw new Error('not a regular file');
    size = st.size;
  } catch (e) {
    throw new CliError(`cannot read ${o.file}: ${(e as Error).message}`, EXIT_USAGE);
  }
  const session = api.client.sessionRef ?? '';
  const task = (await api.call('task.create', o.label, `berth ${o.label}`)) as string;
  let location = withQuery(o.path, { ...o.query, session_id: session, task_id: task });
  for (let hop = 0; ; hop++) {
    const { mod, options } = targetOf(api, location);
    const req = mod.request({ ...options, method: 'PUT', headers: { 'Content-Length': size } });
    const response = new Promise<IncomingMessage>((resolve, reject) => {
      req.once('response', resolve);
      req.once('error', reject);
    });
    req.flushHeaders();
    const res = await response.catch(async (e) => {
      await api.call('task.destroy', task).catch(() => undefined);
      throw e;
    });
    if (res.statusCode === 302 && res.headers.location && hop < MAX_REDIRECTS) {
      res.resume();
      req.destroy();
      location = res.headers.location;
      continue;
    }
    if (res.statusCode !== 200) {
      req.destroy();
      throw await failedTaskError(api, task, await statusError(res));
    }
    res.resume();
    const ended = new Promise<void>((resolve) => {
      res.once('close', () => resolve());
      res.once('end', () => resolve());
    });
    await pipeline(
      createReadStream(o.file),
      counter((n) => out.progress(o.label, size > 0 ? n / size : 1)),
      req,
    );
    await ended;
    break;
  }
  return waitTask(api, task, out, o.label);
}
