// Intent journal for crash-safe storage operations: an operation writes what it is about to do
// (durably) before touching the storage and removes the record when done. After a crash, the
// records left behind tell the start-up scan what to roll back or finish.
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

export interface Intent {
  id: string;
  op: string;
  [key: string]: unknown;
}

function fsyncDir(dir: string) {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes a file so that after a crash it is either absent or complete (tmp, fsync, rename, fsync dir). */
export function writeDurably(path: string, data: string) {
  const dir = join(path, '..');
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeFileSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncDir(dir);
}

export class Journal {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  begin(op: string, data: Record<string, unknown>): Intent {
    const intent: Intent = { ...data, id: randomUUID(), op };
    writeDurably(join(this.dir, `${intent.id}.json`), JSON.stringify(intent));
    return intent;
  }

  end(intent: Intent) {
    rmSync(join(this.dir, `${intent.id}.json`), { force: true });
    fsyncDir(this.dir);
  }

  /** Intents left by operations that never finished (unreadable ones are dropped). */
  pending(): Intent[] {
    const out: Intent[] = [];
    for (const f of readdirSync(this.dir)) {
      const p = join(this.dir, f);
      if (!f.endsWith('.json')) {
        rmSync(p, { force: true }); // a torn journal write: the operation never started
        continue;
      }
      try {
        out.push(JSON.parse(readFileSync(p, 'utf8')) as Intent);
      } catch {
        rmSync(p, { force: true });
      }
    }
    return out;
  }
}

export { fsyncDir };
