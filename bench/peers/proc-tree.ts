// CPU time and memory of a process and all its descendants, from /proc, for the peer benchmark.
//
// CPU: the scheduler's run time of every thread, in ns (first field of
// /proc/PID/task/TID/schedstat), summed over the threads of the root process and of every
// descendant process (found through /proc/PID/task/TID/children of each thread). The meter polls
// the tree during the window and keeps, per thread, the run time at the start of the window (or
// 0 for a thread first seen during it: all of its run time falls in the window) and the last run
// time seen. The window's CPU is the sum over all threads ever seen of (last - start), so:
//   - a thread or process that appears during the window counts from its first run;
//   - one that exits during the window counts up to the last poll before it exited: what it ran
//     between that poll and its exit (at most one poll interval) is lost; the meter counts such
//     exits (threadsExited) so a report can show when this happened.
// A descendant whose parent exits is re-parented (to init or a subreaper) and leaves the tree.
// Thread ids are assumed not to be reused within one window (pid_max is far larger than what a
// window sees).
//
// Memory: VmRSS of each process of the tree (from /proc/PID/status), summed, at every poll; the
// window's figure is the mean over its polls, because a Node process's RSS follows its garbage
// collector's sawtooth (a few MiB up and down every few seconds) and one sample lands anywhere on
// it. Shared pages (e.g. the same libraries mapped by a child) count once per process, as the
// processes' own RSS do.
import { readdirSync, readFileSync } from 'node:fs';

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined; // the thread or process has just exited
  }
}

function listDir(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

/** The root pid and every live descendant's pid (children of every thread, recursively). */
export function processTree(root: number): number[] {
  const seen = new Set<number>();
  const todo = [root];
  while (todo.length) {
    const pid = todo.pop()!;
    if (seen.has(pid) || readText(`/proc/${pid}/stat`) === undefined) continue;
    seen.add(pid);
    for (const tid of listDir(`/proc/${pid}/task`)) {
      for (const child of (readText(`/proc/${pid}/task/${tid}/children`) ?? '').split(/\s+/)) {
        if (child) todo.push(Number(child));
      }
    }
  }
  return [...seen];
}

/** Run time so far of each live thread of the processes, ns, keyed "pid/tid". */
export function threadRunTimes(pids: number[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const pid of pids) {
    for (const tid of listDir(`/proc/${pid}/task`)) {
      const s = readText(`/proc/${pid}/task/${tid}/schedstat`);
      if (s === undefined) continue;
      const ns = Number(s.split(' ')[0]);
      if (Number.isFinite(ns)) out.set(`${pid}/${tid}`, ns);
    }
  }
  return out;
}

/** Sum of VmRSS over the processes, MiB (a process that has just exited counts 0). */
export function treeRssMiB(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) kb += Number(/VmRSS:\s+(\d+) kB/.exec(readText(`/proc/${pid}/status`) ?? '')?.[1] ?? 0);
  return kb / 1024;
}

export interface TreeWindow {
  /** CPU of the tree over the window, % of one core. */
  cpuPct: number;
  /** The same over `subWindows` equal parts of the window (for its spread). */
  subWindowCpuPct: number[];
  /** Wall time of the window, s (first to last poll). */
  windowS: number;
  /** Sum of VmRSS over the tree's processes, MiB: mean over the window's polls, its peak, at its end. */
  rssMiB: number;
  rssMiBMax: number;
  rssMiBEnd: number;
  /** Processes and threads of the tree at the end of the window. */
  processes: number;
  threads: number;
  /** Threads first seen during the window / gone by its end. */
  threadsStarted: number;
  threadsExited: number;
  polls: number;
}

/**
 * Measures the tree of `root` over `windowMs`, polling every `pollMs`; `subWindows` equal parts
 * of the window give the spread of the CPU figure.
 */
export async function measureTree(root: number, windowMs: number, opts: { pollMs?: number; subWindows?: number } = {}): Promise<TreeWindow> {
  const pollMs = opts.pollMs ?? 200;
  const k = Math.max(1, opts.subWindows ?? 5);
  const start = new Map<string, number>();
  const last = new Map<string, number>();
  const startedDuring = new Set<string>();
  const samples: { t: number; ns: number }[] = [];
  const rss: number[] = [];
  let live = new Map<string, number>();
  let pids: number[] = [];
  const poll = (first: boolean): void => {
    pids = processTree(root);
    live = threadRunTimes(pids);
    const t = performance.now();
    rss.push(treeRssMiB(pids));
    for (const [key, ns] of live) {
      if (!start.has(key)) {
        start.set(key, first ? ns : 0);
        if (!first) startedDuring.add(key);
      }
      last.set(key, ns);
    }
    let total = 0;
    for (const [key, ns] of last) total += ns - start.get(key)!;
    samples.push({ t, ns: total });
  };
  poll(true);
  const t0 = samples[0]!.t;
  while (performance.now() - t0 < windowMs) {
    await new Promise((r) => setTimeout(r, Math.min(pollMs, Math.max(1, t0 + windowMs - performance.now()))));
    poll(false);
  }
  const end = samples[samples.length - 1]!;
  const windowS = (end.t - t0) / 1000;
  const pct = (a: { t: number; ns: number }, b: { t: number; ns: number }): number => (b.t > a.t ? ((b.ns - a.ns) / 1e6 / (b.t - a.t)) * 100 : 0);
  // Sub-window boundaries: the poll nearest to each k-th of the window.
  const at = (t: number): { t: number; ns: number } => samples.reduce((best, s) => (Math.abs(s.t - t) < Math.abs(best.t - t) ? s : best));
  const sub: number[] = [];
  for (let i = 0; i < k; i++) {
    const a = at(t0 + ((end.t - t0) * i) / k);
    const b = at(t0 + ((end.t - t0) * (i + 1)) / k);
    if (b.t > a.t) sub.push(pct(a, b));
  }
  let exited = 0;
  for (const key of last.keys()) if (!live.has(key)) exited++;
  return {
    cpuPct: pct(samples[0]!, end),
    subWindowCpuPct: sub,
    windowS,
    rssMiB: meanSd(rss).mean,
    rssMiBMax: Math.max(...rss),
    rssMiBEnd: rss[rss.length - 1]!,
    processes: pids.length,
    threads: live.size,
    threadsStarted: startedDuring.size,
    threadsExited: exited,
    polls: samples.length,
  };
}

/** Mean and standard deviation (n - 1). */
export function meanSd(xs: number[]): { mean: number; sd: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / (xs.length || 1);
  const sd = xs.length > 1 ? Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, sd };
}

/**
 * Least-squares slope of y over x, and its standard error from the points' own standard errors
 * (se: one per point; the points are taken as independent).
 */
export function slope(x: number[], y: number[], se?: number[]): { slope: number; se?: number } {
  const n = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (x[i]! - mx) ** 2;
    sxy += (x[i]! - mx) * (y[i]! - my);
  }
  if (sxx === 0) return { slope: NaN };
  const out: { slope: number; se?: number } = { slope: sxy / sxx };
  if (se && se.length === n) out.se = Math.sqrt(x.reduce((a, xi, i) => a + (xi - mx) ** 2 * se[i]! ** 2, 0)) / sxx;
  return out;
}
