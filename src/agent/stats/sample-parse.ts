// Pure parsers of the kernel files the samplers read (/proc/stat, /proc/meminfo, /proc/loadavg,
// /proc/net/dev, /proc/<pid>/task/<tid>/stat). Each takes the file's text and returns numbers;
// malformed lines are skipped, never thrown on (a sampler leaves the figure out).

/**
 * Linux's USER_HZ: the unit of the times in /proc/stat and /proc/<pid>/stat. Fixed at 100 by the
 * kernel ABI on every architecture Berth runs on (it is not CONFIG_HZ), so no sysconf is needed.
 */
export const USER_HZ = 100;

export interface ProcStat {
  /** Per CPU (index = N of cpuN): seconds idle since boot (idle + iowait columns). */
  idleSeconds: number[];
  /** Runnable threads at the moment of reading (procs_running), the reader included. */
  procsRunning?: number;
}

/**
 * /proc/stat: per-CPU idle time. Idle counts `iowait` too: the CPU ran nothing then (Xen's pCPU
 * idle time, which xapi's cpuN inverts, counts it the same way).
 */
export function parseProcStat(text: string): ProcStat {
  const idleSeconds: number[] = [];
  let procsRunning: number | undefined;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    const m = /^cpu(\d+)$/.exec(f[0] ?? '');
    if (m) {
      const idle = Number(f[4]);
      const iowait = f[5] === undefined ? 0 : Number(f[5]);
      if (Number.isFinite(idle) && Number.isFinite(iowait))
        idleSeconds[Number(m[1])] = (idle + iowait) / USER_HZ;
    } else if (f[0] === 'procs_running') {
      const n = Number(f[1]);
      if (Number.isInteger(n) && n >= 0) procsRunning = n;
    }
  }
  return { idleSeconds: Array.from(idleSeconds, (x) => x ?? Number.NaN), procsRunning };
}

/** /proc/meminfo: the named fields, in KiB. */
export function parseMeminfo(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9_()]+):\s+(\d+)(?:\s+kB)?\s*$/.exec(line);
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** /proc/loadavg: the 1-minute load average (xapi's loadavg: the first field). */
export function parseLoadavg(text: string): number | undefined {
  const v = Number(text.trim().split(/\s+/)[0]);
  return text.trim() && Number.isFinite(v) ? v : undefined;
}

export interface LinkCounters {
  rxBytes: number;
  rxErrors: number;
  txBytes: number;
  txErrors: number;
}

/** /proc/net/dev: every interface's byte and error counters, one read for all of them. */
export function parseNetDev(text: string): Map<string, LinkCounters> {
  const out = new Map<string, LinkCounters>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    // rx: bytes packets errs drop fifo frame compressed multicast | tx: bytes packets errs …
    if (!name || f.length < 16 || f.some((x) => !Number.isFinite(x))) continue;
    out.set(name, { rxBytes: f[0], rxErrors: f[2], txBytes: f[8], txErrors: f[10] });
  }
  return out;
}

export interface TaskStat {
  /** Scheduler state letter (R running/runnable, S sleeping…). */
  state: string;
  /** utime + stime in seconds. */
  cpuSeconds: number;
}

/** /proc/<pid>/task/<tid>/stat; the command name may hold spaces and parentheses ("CPU 0/TCG"). */
export function parseTaskStat(text: string): TaskStat | undefined {
  const end = text.lastIndexOf(')');
  if (end < 0) return undefined;
  // After ") ": state(3) ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15)
  const f = text
    .slice(end + 2)
    .trim()
    .split(/\s+/);
  const utime = Number(f[11]);
  const stime = Number(f[12]);
  if (!f[0] || !Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return { state: f[0], cpuSeconds: (utime + stime) / USER_HZ };
}
