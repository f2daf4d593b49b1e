// Memory and start-up of `kvs-edge run` as a board runs it: production mode (no --local; the
// configuration names a control-plane endpoint, here a local KVS service hosted in this process),
// 720p30 test pattern, logs at warn. Figures:
//   - start-up: exec -> READY=1 on a unix datagram socket this benchmark binds and hands over
//     as NOTIFY_SOCKET, as systemd does for a Type=notify unit (python3 binds it: Node has no
//     unix datagram sockets);
//   - RSS: sum of VmRSS over kvs-edge's process tree, mean over a window (polled every 0.2 s),
//     idle and with 1, 5 and 10 viewers receiving (each viewer: our signaling client in the
//     VIEWER role and the native engine in viewer role, in this process); the per-viewer slope;
//   - the same for a peer where one is sensible: the bare Node that runs kvs-edge (`node -e` with
//     a timer) for idle RSS and exec -> first line on stdout.
// Prints figures; never a pass/fail test. Results go to bench/results/memory-<time>.json.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ControlPlane, StaticCredentialsProvider, createChannelSignaling, type SignalingClient } from '../ts/kvs/index.js';
import { startLocalService, type LocalKvsService } from '../ts/local/index.js';
import { PeerConnection } from '../ts/native/index.js';
import { describeMachine } from './peers.js';
import { measureTree, processTree, slope } from './peers/proc-tree.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEBIAN_PYTHON = '/usr/bin/python3';
const CHANNEL = 'memory-cam';

export interface MemoryBenchOptions {
  /** Viewer counts measured after idle (default [1, 5, 10]). */
  viewerCounts?: number[];
  /** Wait after start-up / after the viewers of a step receive, before measuring (default 5000). */
  warmupMs?: number;
  /** RSS window (default 10000). */
  windowMs?: number;
  /** Start-ups timed (default 5). */
  startups?: number;
  /** Extra Node arguments for kvs-edge (e.g. V8 flags to compare). */
  nodeArgs?: string[];
  /** Extra environment for kvs-edge (e.g. GLIBC_TUNABLES to compare). */
  env?: Record<string, string>;
  /** The Node binary (default this process's). */
  node?: string;
  outDir?: string;
  log?: (line: string) => void;
}

export interface MemoryStep {
  viewers: number;
  rssMiB: number;
  rssMiBMax: number;
  /** Of the RSS at the end of the window: anonymous (heaps) and file-backed (code, mapped libraries) pages, MiB. */
  rssAnonMiB: number;
  rssFileMiB: number;
  threads: number;
  processes: number;
  /** Frames each viewer received during the window, per second. */
  fpsPerViewer: number[];
}

export interface MemoryReport {
  kind: 'memory';
  startedAt: string;
  machine: ReturnType<typeof describeMachine>;
  node: string;
  nodeArgs: string[];
  env: Record<string, string>;
  startupMs: number[];
  startupMsMedian: number;
  /** CPU time (user + system, with waited-for children) of kvs-edge from exec to READY=1. */
  startupCpuMs: number[];
  startupCpuMsMedian: number;
  steps: MemoryStep[];
  /** Least-squares slope of RSS over the viewer steps (1, 5, 10), MiB per viewer. */
  perViewerMiB?: number;
  peer: { name: string; idleRssMiB: number; startupMsMedian: number };
  targets: { idleMiB: 55; perViewerMiB: 0.5; startupMs: 1000 };
  files?: { json: string };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const round2 = (x: number): number => Math.round(x * 100) / 100;

/** A unix datagram socket bound at `path` (python3 does the binding); lines of what arrives. */
class NotifySocket {
  readonly lines: { at: number; text: string }[] = [];
  readonly #py: ChildProcess;
  readonly listening: Promise<void>;
  constructor(readonly path: string) {
    const code = 'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint("listening",flush=True)\nwhile True:\n  print(s.recv(65536).decode("utf-8","replace").replace("\\n","|"),flush=True)\n';
    this.#py = spawn(DEBIAN_PYTHON, ['-c', code, path], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buf = '';
    this.listening = new Promise((resolve, reject) => {
      this.#py.once('error', reject);
      this.#py.stdout!.on('data', (d: Buffer) => {
        const at = performance.now();
        buf += d.toString('utf8');
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const text = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (text === 'listening') resolve();
          else this.lines.push({ at, text });
        }
      });
    });
  }
  async waitFor(re: RegExp, after: number, ms: number): Promise<number> {
    for (const end = performance.now() + ms; performance.now() < end;) {
      const hit = this.lines.find((l) => l.at >= after && re.test(l.text));
      if (hit) return hit.at;
      await sleep(5);
    }
    throw new Error(`no ${re} on NOTIFY_SOCKET in ${ms} ms`);
  }
  close(): void {
    this.#py.kill('SIGKILL');
  }
}

class Proc {
  readonly child: ChildProcess;
  stderr = '';
  readonly exited: Promise<number | null>;
  constructor(command: string, args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (d: Buffer) => {
      if (this.stderr.length < 20000) this.stderr += d.toString('utf8');
    });
    this.exited = new Promise((r) => this.child.once('exit', (code) => r(code)));
  }
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  async stop(): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const done = await Promise.race([this.exited.then(() => true), sleep(15000).then(() => false)]);
    if (!done) this.child.kill('SIGKILL');
  }
}

/** One viewer: signaling client in the VIEWER role + the native engine in viewer role. */
class Viewer {
  #pc: PeerConnection | undefined;
  #sc: SignalingClient | undefined;
  #cp: ControlPlane | undefined;
  static async connect(svc: LocalKvsService, clientId: string, timeoutMs: number): Promise<Viewer> {
    const v = new Viewer();
    try {
      await v.#connect(svc, clientId, timeoutMs);
      return v;
    } catch (e) {
      v.close();
      throw e;
    }
  }
  async #connect(svc: LocalKvsService, clientId: string, timeoutMs: number): Promise<void> {
    const credentials = new StaticCredentialsProvider(svc.credentials);
    this.#cp = new ControlPlane({ region: svc.region, channelName: CHANNEL, credentials, endpoint: svc.endpoint, maxAttempts: 1 });
    const sc = (this.#sc = await createChannelSignaling({ controlPlane: this.#cp, credentials, role: 'VIEWER', clientId }));
    const pc = (this.#pc = new PeerConnection({ id: `memory-viewer-${clientId}` }));
    let answered = false;
    const early: { candidate: string; sdpMid: string | null; sdpMLineIndex: number | null }[] = [];
    const add = (c: { candidate: string; sdpMid: string | null; sdpMLineIndex: number | null }): void => {
      try {
        pc.addRemoteCandidate(c);
      } catch { /* an unusable candidate: ICE goes on with the others */ }
    };
    const answer = new Promise<string>((resolve) => sc.on('sdpAnswer', (a) => resolve(a.sdp)));
    sc.on('iceCandidate', (c) => { if (answered) add(c); else early.push(c); });
    sc.on('error', () => undefined);
    pc.on('candidate', (c) => {
      if (c.candidate) sc.sendIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null });
    });
    await sc.open();
    sc.sendSdpOffer({ type: 'offer', sdp: await pc.createOffer({ video: true }) });
    const sdp = await Promise.race([answer, sleep(timeoutMs).then(() => { throw new Error(`viewer ${clientId}: no answer in ${timeoutMs} ms`); })]);
    await pc.setRemoteAnswer(sdp);
    answered = true;
    for (const c of early.splice(0)) add(c);
    for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(50)) {
      if ((await pc.getStats()).framesReceived > 0) return;
    }
    const s = await pc.getStats();
    throw new Error(`viewer ${clientId}: no frame in ${timeoutMs} ms (ICE ${s.iceState ?? '?'}, DTLS ${s.dtlsState ?? '?'})`);
  }
  async frames(): Promise<number> {
    return (await this.#pc!.getStats()).framesReceived;
  }
  close(): void {
    this.#pc?.close();
    this.#sc?.close();
    this.#cp?.close();
  }
}

/** Mean RSS of a process tree over a window. */
async function rssWindow(pid: number, windowMs: number): Promise<{ rssMiB: number; rssMiBMax: number; rssAnonMiB: number; rssFileMiB: number; threads: number; processes: number }> {
  const t = await measureTree(pid, windowMs, { subWindows: 1 });
  const field = (name: string): number => {
    let kb = 0;
    for (const p of processTree(pid)) kb += Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(readText(`/proc/${p}/status`))?.[1] ?? 0);
    return round2(kb / 1024);
  };
  return { rssMiB: round2(t.rssMiB), rssMiBMax: round2(t.rssMiBMax), rssAnonMiB: field('RssAnon'), rssFileMiB: field('RssFile'), threads: t.threads, processes: t.processes };
}

/** CPU time of a process so far (all its threads, and the children it waited for), ms. */
function cpuMsOf(pid: number): number {
  // /proc/PID/stat: the fields after the parenthesized name; utime, stime, cutime, cstime are
  // fields 14-17, in USER_HZ (100 on Linux).
  const stat = readText(`/proc/${pid}/stat`);
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [11, 12, 13, 14].reduce((sum, k) => sum + Number(f[k] ?? 0), 0) * 10;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

export async function runMemoryBench(opts: MemoryBenchOptions = {}): Promise<MemoryReport> {
  const log = opts.log ?? ((s: string) => console.log(s));
  const viewerCounts = opts.viewerCounts ?? [1, 5, 10];
  const warmupMs = opts.warmupMs ?? 5000;
  const windowMs = opts.windowMs ?? 10000;
  const startups = opts.startups ?? 5;
  const node = opts.node ?? process.execPath;
  const nodeArgs = opts.nodeArgs ?? [];
  for (const n of viewerCounts) if (!Number.isInteger(n) || n < 1 || n > 10) throw new Error(`viewer counts must be whole numbers 1..10 (viewers.max), not ${String(n)}`);
  const startedAt = new Date();
  const machine = describeMachine();
  const dir = mkdtempSync(join(tmpdir(), 'kvs-edge-memory-'));
  const svc = await startLocalService({ turn: false, channels: [CHANNEL], closeGraceMs: 50 });
  const notify = new NotifySocket(join(dir, 'notify.sock'));
  const viewers: Viewer[] = [];
  let proc: Proc | undefined;
  try {
    await notify.listening;
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        deviceId: 'memory-bench',
        region: svc.region,
        endpoints: { controlPlane: svc.endpoint },
        credentials: { source: 'static', ...svc.credentials },
        channel: { name: CHANNEL },
        video: { source: { type: 'pattern' }, width: 1280, height: 720, fps: 30 },
        logging: { level: 'warn', format: 'json' },
      }),
    );
    const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'], NOTIFY_SOCKET: notify.path, ...opts.env };
    const args = [...nodeArgs, join(ROOT, 'bin/kvs-edge.js'), 'run', '--config', config];
    log(`- kvs-edge run: ${[...Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`), node, ...args].join(' ')}`);

    // Start-up: exec -> READY=1, `startups` times (each run stopped with SIGTERM).
    // Wall time depends on what else the machine runs; the CPU time the process (and the helpers
    // it waited for) used until READY=1 does not: both are reported.
    const startupMs: number[] = [];
    const startupCpuMs: number[] = [];
    for (let i = 0; i < startups; i++) {
      const t0 = performance.now();
      const p = new Proc(node, args, env);
      try {
        const at = await Promise.race([notify.waitFor(/READY=1/, t0, 30000), p.exited.then((c) => { throw new Error(`kvs-edge run exited ${String(c)} before READY=1: ${p.stderr.slice(-2000)}`); })]);
        startupMs.push(Math.round((at - t0) * 10) / 10);
        startupCpuMs.push(cpuMsOf(p.child.pid!));
      } finally {
        if (i < startups - 1) await p.stop();
        else proc = p;
      }
    }
    log(`  start-up exec -> READY=1: median ${median(startupMs).toFixed(0)} ms (${startupMs.join(', ')} ms; load average ${machine.loadAverageStart.join(' ')} at the start on ${machine.cores} cores), CPU time until then median ${median(startupCpuMs).toFixed(0)} ms (${startupCpuMs.join(', ')} ms)`);

    // RSS idle, then with viewers (the last start-up's process goes on).
    const steps: MemoryStep[] = [];
    for (const count of [0, ...viewerCounts]) {
      while (viewers.length < count) viewers.push(await Viewer.connect(svc, `viewer-${viewers.length + 1}`, 20000));
      await sleep(warmupMs);
      if (!proc!.running) throw new Error(`kvs-edge run exited: ${proc!.stderr.slice(-2000)}`);
      const before = await Promise.all(viewers.map((v) => v.frames()));
      const w = await rssWindow(proc!.child.pid!, windowMs);
      const after = await Promise.all(viewers.map((v) => v.frames()));
      const fps = after.map((f, k) => Math.round(((f - before[k]!) / (windowMs / 1000)) * 10) / 10);
      steps.push({ viewers: count, ...w, fpsPerViewer: fps });
      log(`  ${count} viewer(s): RSS ${w.rssMiB.toFixed(1)} MiB (peak ${w.rssMiBMax.toFixed(1)}; at the end ${w.rssAnonMiB.toFixed(1)} anonymous + ${w.rssFileMiB.toFixed(1)} file-backed), ${w.threads} threads${fps.length ? `, fps per viewer ${Math.min(...fps)}..${Math.max(...fps)}` : ''}`);
    }
    const withViewers = steps.filter((s) => s.viewers > 0);
    const perViewerMiB = withViewers.length >= 2 ? Math.round(slope(withViewers.map((s) => s.viewers), withViewers.map((s) => s.rssMiB)).slope * 1000) / 1000 : undefined;
    for (const v of viewers.splice(0)) v.close();
    await proc!.stop();

    // The peer: the same Node, idle, doing nothing but a timer.
    const peerStart: number[] = [];
    let peerRss = 0;
    for (let i = 0; i < startups; i++) {
      const t0 = performance.now();
      const p = new Proc(node, ['-e', 'console.log("up"); setInterval(() => {}, 1000)'], { PATH: process.env['PATH'] });
      try {
        await new Promise<void>((r) => p.child.stdout!.once('data', () => r()));
        peerStart.push(Math.round((performance.now() - t0) * 10) / 10);
        if (i === startups - 1) {
          await sleep(warmupMs);
          peerRss = (await rssWindow(p.child.pid!, windowMs)).rssMiB;
        }
      } finally {
        await p.stop();
      }
    }
    const peer = { name: `node ${node === process.execPath ? process.version : node} -e (a timer)`, idleRssMiB: peerRss, startupMsMedian: median(peerStart) };
    log(`  peer ${peer.name}: idle RSS ${peer.idleRssMiB.toFixed(1)} MiB, exec -> first line ${peer.startupMsMedian.toFixed(0)} ms`);

    const report: MemoryReport = {
      kind: 'memory',
      startedAt: startedAt.toISOString(),
      machine,
      node,
      nodeArgs,
      env: opts.env ?? {},
      startupMs,
      startupMsMedian: median(startupMs),
      startupCpuMs,
      startupCpuMsMedian: median(startupCpuMs),
      steps,
      ...(perViewerMiB !== undefined ? { perViewerMiB } : {}),
      peer,
      targets: { idleMiB: 55, perViewerMiB: 0.5, startupMs: 1000 },
    };
    const idle = steps[0]!.rssMiB;
    log(`  kvs-edge: idle ${idle.toFixed(1)} MiB (target <= 55; ${(idle - peer.idleRssMiB).toFixed(1)} MiB above the bare Node), per added viewer ${perViewerMiB?.toFixed(3) ?? '–'} MiB (target <= 0.5), start-up ${report.startupMsMedian.toFixed(0)} ms, ${report.startupCpuMsMedian.toFixed(0)} ms of CPU (target <= 1000; bare Node ${peer.startupMsMedian.toFixed(0)} ms)`);
    const outDir = opts.outDir ?? join(ROOT, 'bench/results');
    mkdirSync(outDir, { recursive: true });
    const json = join(outDir, `memory-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
    report.files = { json };
    writeFileSync(json, JSON.stringify(report, null, 2));
    log(`written ${json}`);
    return report;
  } finally {
    for (const v of viewers) v.close();
    await proc?.stop();
    notify.close();
    await svc.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
