// Side-by-side sender benchmark: kvs-edge against GStreamer webrtcbin, node-datachannel and
// werift, each sender in its own process, all sending the same 720p30 2 Mbps H.264, all watched
// by the same viewer: the kvs-edge native engine in viewer role (it makes the H.264 recvonly
// offer, reassembles access units and times the first complete keyframe), hosted in this
// process. Per sender: time to first frame over N sequential connections, then CPU and RSS of the
// sender's process tree (the sender and its child processes, bench/peers/proc-tree.ts) with 1, 5
// and 10 viewers receiving. Prints figures; never a pass/fail test.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PeerConnection } from '../ts/native/index.js';
import type { IceCandidateInit } from '../ts/native/types.js';
import { percentile } from './chromium-viewer.js';
import { CONTENT, makeContentFile } from './peers/media.js';
import { meanSd, measureTree, slope } from './peers/proc-tree.js';
import { SenderProcess } from './peers/signaling.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DEBIAN_PYTHON = '/usr/bin/python3';

export interface SenderSpec {
  name: string;
  description: string;
  command: string;
  args: string[];
}

/** The senders, by name. `file` is the benchmark's H.264 file. */
export function senderSpecs(file: string): SenderSpec[] {
  const node = (script: string, ...args: string[]): Pick<SenderSpec, 'command' | 'args'> => ({
    command: process.execPath,
    args: ['--import', 'tsx', join(ROOT, 'bench/peers', script), ...args],
  });
  const py = (...args: string[]): Pick<SenderSpec, 'command' | 'args'> => ({ command: DEBIAN_PYTHON, args: [join(ROOT, 'bench/peers/gst_sender.py'), ...args] });
  return [
    { name: 'kvs-edge', description: 'kvs-edge, videotestsrc smpte raw I420 from gst-launch-1.0 (pipe source) encoded by openh264 at 2 Mbps, qpMin 32 like gstreamer-encode', ...node('kvs-edge-sender.ts', 'encode') },
    { name: 'kvs-edge-file', description: 'kvs-edge, the H.264 file passed through (looped, paced)', ...node('kvs-edge-sender.ts', 'file', file) },
    { name: 'gstreamer', description: 'GStreamer webrtcbin, the H.264 file via appsrc, rtph264pay once, tee, one webrtcbin per viewer', ...py('file', file) },
    { name: 'gstreamer-encode', description: 'GStreamer webrtcbin, videotestsrc -> openh264enc 2 Mbps, tee, one webrtcbin per viewer', ...py('encode') },
    { name: 'node-datachannel', description: 'node-datachannel, the H.264 file paced in JS, one track + libdatachannel packetizer per viewer', ...node('ndc-sender.ts', file) },
    { name: 'werift', description: 'werift, the H.264 file paced in JS, H264Packetizer once, one track shared by every RTCRtpSender', ...node('werift-sender.ts', file) },
  ];
}

export const KVS_EDGE_SENDERS = ['kvs-edge', 'kvs-edge-file'];

export interface PeerBenchOptions {
  /** Sequential connections for time to first frame (default 20). */
  connections?: number;
  /** Viewer counts for CPU and RSS (default [1, 5, 10]). */
  viewerCounts?: number[];
  /** After the viewers of a step all receive, wait this long before measuring (default 3000). */
  warmupMs?: number;
  /** CPU window (default 10000). */
  windowMs?: number;
  /** Sender names to run (default all). */
  senders?: string[];
  /** Where the JSON and Markdown go (default bench/results). */
  outDir?: string;
  /** More senders besides the built-in ones (tests use this for a sender that sends nothing). */
  extraSenders?: SenderSpec[];
  /** Wait for a viewer's first frame at most this long (default 15000). */
  frameTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface LoadStep {
  viewers: number;
  /** Viewers that got their first frame and stayed connected. */
  connected: number;
  status: 'ok' | 'failed';
  error?: string;
  /**
   * CPU of the sender's process tree over the window, % of one core: the scheduler's run time
   * (schedstat, ns) of every thread of the sender and of its descendant processes.
   */
  cpuPct?: number;
  /** Standard error of cpuPct, from its spread over 5 equal sub-windows (sd / sqrt(5)). */
  cpuPctSe?: number;
  /** cpuPct over each sub-window. */
  subWindowCpuPct?: number[];
  /** Sum of VmRSS over the sender's process tree, MiB: mean over the window (polled every 0.2 s), its peak, at its end. */
  rssMiB?: number;
  rssMiBMax?: number;
  rssMiBEnd?: number;
  /** Processes and threads of the tree at the end of the window; threads that started / exited during it. */
  processes?: number;
  threads?: number;
  threadsStarted?: number;
  threadsExited?: number;
  windowS?: number;
  /** Complete access units per second at each viewer during the window. */
  fpsPerViewer?: number[];
  /** H.264 received per second at each viewer during the window, kbps. */
  kbpsPerViewer?: number[];
}

export interface SenderResult {
  name: string;
  description: string;
  status: 'ok' | 'failed';
  errors: string[];
  ttff?: { connections: number; samplesMs: number[]; p50: number; p95: number; failures: number };
  load: LoadStep[];
  /**
   * What each added viewer costs. cpuPct, rssMiB: (figure at the most viewers - at the fewest) /
   * (difference in viewers). cpuPctSlope, rssMiBSlope: least-squares slope over every measured
   * step, with cpuPctSlopeSe its standard error from the steps' cpuPctSe; the ratios use the slopes.
   */
  perViewer?: { cpuPct: number; rssMiB: number; from: number; to: number; cpuPctSlope: number; cpuPctSlopeSe?: number; rssMiBSlope: number };
}

export interface Ratio {
  kvsEdge: string;
  peer: string;
  /** peer / kvs-edge: above 1 means kvs-edge is faster. */
  ttffP50?: number;
  ttffP95?: number;
}

export interface PeerBenchReport {
  kind: 'peers';
  startedAt: string;
  viewer: string;
  content: typeof CONTENT & { file: string; fileBytes: number; measuredKbps: number };
  machine: MachineInfo;
  options: Required<Omit<PeerBenchOptions, 'log' | 'outDir' | 'senders' | 'extraSenders'>> & { senders: string[] };
  senders: SenderResult[];
  ratios: {
    ttff: Ratio[];
    /**
     * kvs-edge's per-viewer cost / the best (lowest) peer's, from the least-squares slopes
     * (perViewer.cpuPctSlope, rssMiBSlope): below 1 means kvs-edge is cheaper.
     */
    perViewer: { kvsEdge: string; bestCpuPeer?: string; cpu?: number; bestMemoryPeer?: string; memory?: number }[];
  };
  underLoad: boolean;
  files?: { json: string; markdown: string };
}

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  loadAverageStart: number[];
  loadAverageEnd?: number[];
  versions: Record<string, string>;
}

function pkgVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function cmdVersion(cmd: string, args: string[], pick: RegExp): string {
  try {
    return pick.exec(execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))?.[1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function describeMachine(): MachineInfo {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    loadAverageStart: loadavg().map((l) => Math.round(l * 100) / 100),
    versions: {
      gstreamer: cmdVersion('gst-inspect-1.0', ['--version'], /GStreamer (\S+)/),
      werift: pkgVersion('werift'),
      'node-datachannel': pkgVersion('node-datachannel'),
      openh264: cmdVersion('dpkg-query', ['-W', '-f', '${Version}', 'libopenh264-7'], /(\S+)/),
      python: cmdVersion(DEBIAN_PYTHON, ['--version'], /Python (\S+)/),
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const round2 = (x: number): number => Math.round(x * 100) / 100;
const round3 = (x: number): number => Math.round(x * 1000) / 1000;
/** Equal parts of the CPU window whose spread gives a step's standard error. */
const SUB_WINDOWS = 5;

/** Per-added-viewer cost from the measured steps (ok steps only; needs two viewer counts). */
export function perViewerCost(ok: LoadStep[], viewerCounts: number[]): SenderResult['perViewer'] {
  const first = ok.find((s) => s.viewers === Math.min(...viewerCounts));
  const last = ok.find((s) => s.viewers === Math.max(...viewerCounts));
  if (!first || !last || last.viewers <= first.viewers || ok.length !== viewerCounts.length) return undefined;
  const n = last.viewers - first.viewers;
  const x = ok.map((s) => s.viewers);
  const cpu = slope(x, ok.map((s) => s.cpuPct!), ok.every((s) => s.cpuPctSe !== undefined) ? ok.map((s) => s.cpuPctSe!) : undefined);
  const rss = slope(x, ok.map((s) => s.rssMiB!));
  return {
    cpuPct: round3((last.cpuPct! - first.cpuPct!) / n),
    rssMiB: round3((last.rssMiB! - first.rssMiB!) / n),
    from: first.viewers,
    to: last.viewers,
    cpuPctSlope: round3(cpu.slope),
    ...(cpu.se !== undefined ? { cpuPctSlopeSe: round3(cpu.se) } : {}),
    rssMiBSlope: round3(rss.slope),
  };
}

interface Viewer {
  id: string;
  pc: PeerConnection;
}

let viewerSeq = 0;

/** Connects one engine viewer to the sender and waits for its first complete keyframe access unit. */
export async function connectViewer(sender: SenderProcess, frameTimeoutMs: number): Promise<Viewer & { ttffMs: number }> {
  const id = `v${++viewerSeq}`;
  const pc = new PeerConnection({ id: `bench-viewer-${id}` });
  const early: IceCandidateInit[] = [];
  let answered = false;
  const add = (c: IceCandidateInit): void => {
    try {
      pc.addRemoteCandidate(c);
    } catch { /* mDNS, late or unusable: ICE goes on with the others */ }
  };
  pc.on('candidate', (c) => sender.candidate(id, c));
  try {
    const offer = await pc.createOffer({ video: true });
    const answer = await sender.offer(id, offer, (c) => { if (answered) add(c); else early.push(c); });
    const direction = /a=(sendonly|sendrecv|recvonly|inactive)/.exec(answer.split(/\r?\nm=video/)[1] ?? '')?.[1] ?? 'no video section';
    await pc.setRemoteAnswer(answer);
    answered = true;
    for (const c of early.splice(0)) add(c);
    for (const end = Date.now() + frameTimeoutMs; Date.now() < end;) {
      const s = await pc.getStats();
      if (s.framesReceived > 0 && s.timing.firstFrameReceivedMs !== undefined) return { id, pc, ttffMs: s.timing.firstFrameReceivedMs };
      if (!sender.running) break;
      await sleep(20);
    }
    const s = await pc.getStats();
    throw new Error(`no complete keyframe in ${frameTimeoutMs} ms (ICE ${s.iceState ?? '?'}, DTLS ${s.dtlsState ?? '?'}, ${s.videoBytesReceived} video bytes, answer ${direction}, ${sender.errors.slice(-1)[0] ?? 'no sender error'})`);
  } catch (err) {
    pc.close();
    sender.close(id);
    throw err;
  }
}

function closeViewer(sender: SenderProcess, v: Viewer): void {
  v.pc.close();
  sender.close(v.id);
}

async function startSender(spec: SenderSpec): Promise<SenderProcess> {
  const sender = new SenderProcess(spec.name, spec.command, spec.args);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${spec.name}: not ready in 60 s`)), 60000); });
  try {
    await Promise.race([sender.ready, timeout]);
  } catch (err) {
    await sender.stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return sender;
}

async function measureTtff(spec: SenderSpec, o: Required<Omit<PeerBenchOptions, 'log' | 'outDir' | 'senders' | 'extraSenders'>>, errors: string[]): Promise<NonNullable<SenderResult['ttff']>> {
  const sender = await startSender(spec);
  const samples: number[] = [];
  let failures = 0;
  try {
    for (let i = 0; i < o.connections && sender.running; i++) {
      try {
        const v = await connectViewer(sender, o.frameTimeoutMs);
        samples.push(v.ttffMs);
        closeViewer(sender, v);
      } catch (err) {
        failures++;
        if (errors.length < 5) errors.push(`ttff #${i + 1}: ${(err as Error).message}`);
      }
      // A random pause (0.2 s + up to one GOP) so that the offers do not fall at the same point
      // of the sender's GOP each time: senders that start a new viewer at the next IDR would
      // otherwise show the same wait on every connection.
      await sleep(200 + Math.random() * ((CONTENT.gop / CONTENT.fps) * 1000));
    }
  } finally {
    await sender.stop();
  }
  return { connections: o.connections, samplesMs: samples.map((s) => Math.round(s * 10) / 10), p50: percentile(samples, 50), p95: percentile(samples, 95), failures };
}

async function measureLoad(spec: SenderSpec, o: Required<Omit<PeerBenchOptions, 'log' | 'outDir' | 'senders' | 'extraSenders'>>, errors: string[], log: (s: string) => void): Promise<LoadStep[]> {
  const sender = await startSender(spec);
  const viewers: Viewer[] = [];
  const steps: LoadStep[] = [];
  try {
    for (const count of o.viewerCounts) {
      let error: string | undefined;
      while (viewers.length < count && sender.running) {
        try {
          viewers.push(await connectViewer(sender, o.frameTimeoutMs));
        } catch (err) {
          error = `viewer ${viewers.length + 1}: ${(err as Error).message}`;
          break;
        }
      }
      if (error || viewers.length < count) {
        steps.push({ viewers: count, connected: viewers.length, status: 'failed', error: error ?? `${spec.name} sender exited` });
        errors.push(`${count} viewers: ${error ?? 'sender exited'}`);
        break;
      }
      await sleep(o.warmupMs);
      const before = await Promise.all(viewers.map((v) => v.pc.getStats()));
      const tree = await measureTree(sender.pid, o.windowMs, { subWindows: SUB_WINDOWS });
      const after = await Promise.all(viewers.map((v) => v.pc.getStats()));
      const windowS = tree.windowS;
      const fps = after.map((s, k) => Math.round(((s.framesReceived - before[k]!.framesReceived) / windowS) * 10) / 10);
      const kbps = after.map((s, k) => Math.round(((s.videoBytesReceived - before[k]!.videoBytesReceived) * 8) / windowS / 1000));
      const starved = fps.filter((f) => f <= 0).length;
      const step: LoadStep = { viewers: count, connected: viewers.length, status: starved ? 'failed' : 'ok', windowS: Math.round(windowS * 100) / 100, fpsPerViewer: fps, kbpsPerViewer: kbps };
      if (starved) {
        step.error = `${starved} of ${count} viewers received no frames during the window`;
        errors.push(`${count} viewers: ${step.error}`);
        steps.push(step);
        break;
      }
      step.cpuPct = round3(tree.cpuPct);
      step.cpuPctSe = round3(meanSd(tree.subWindowCpuPct).sd / Math.sqrt(tree.subWindowCpuPct.length));
      step.subWindowCpuPct = tree.subWindowCpuPct.map(round3);
      step.rssMiB = round2(tree.rssMiB);
      step.rssMiBMax = round2(tree.rssMiBMax);
      step.rssMiBEnd = round2(tree.rssMiBEnd);
      step.processes = tree.processes;
      step.threads = tree.threads;
      step.threadsStarted = tree.threadsStarted;
      step.threadsExited = tree.threadsExited;
      steps.push(step);
      log(`  ${spec.name}: ${count} viewer(s): CPU ${step.cpuPct.toFixed(2)} ± ${step.cpuPctSe.toFixed(2)} %, RSS ${step.rssMiB.toFixed(1)} MiB (${tree.processes} process(es), ${tree.threads} threads, ${tree.threadsStarted} started and ${tree.threadsExited} exited in the window), fps per viewer ${Math.min(...fps)}..${Math.max(...fps)}, kbps per viewer ${Math.min(...kbps)}..${Math.max(...kbps)}`);
    }
  } finally {
    for (const v of viewers) closeViewer(sender, v);
    await sender.stop();
  }
  return steps;
}

/** Runs the benchmark; writes bench/results/peers-<time>.json and .md; returns the report. */
export async function runPeerBench(opts: PeerBenchOptions = {}): Promise<PeerBenchReport> {
  const log = opts.log ?? ((s: string) => console.log(s));
  const o = {
    connections: opts.connections ?? 20,
    viewerCounts: opts.viewerCounts ?? [1, 5, 10],
    warmupMs: opts.warmupMs ?? 3000,
    windowMs: opts.windowMs ?? 10000,
    frameTimeoutMs: opts.frameTimeoutMs ?? 15000,
  };
  const startedAt = new Date();
  const machine = describeMachine();
  const extra = opts.extraSenders ?? [];
  const known = [...senderSpecs(''), ...extra].map((s) => s.name);
  const names = opts.senders ?? known;
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length) throw new Error(`unknown sender(s): ${unknown.join(', ')} (known: ${known.join(', ')})`);
  for (const n of o.viewerCounts) if (!Number.isInteger(n) || n < 1) throw new Error(`viewer counts must be whole numbers >= 1, not ${String(n)}`);
  const dir = mkdtempSync(join(tmpdir(), 'kvs-edge-bench-'));
  try {
    const file = makeContentFile(dir);
    const fileBytes = readFileSync(file).length;
    const specs = [...senderSpecs(file), ...extra];
    const results: SenderResult[] = [];
    for (const spec of specs.filter((s) => names.includes(s.name))) {
      log(`- ${spec.name}: ${spec.description}`);
      const errors: string[] = [];
      const r: SenderResult = { name: spec.name, description: spec.description, status: 'ok', errors, load: [] };
      try {
        const ttff = await measureTtff(spec, o, errors);
        r.ttff = ttff;
        log(`  ${spec.name}: time to first frame p50 ${ttff.p50.toFixed(1)} ms, p95 ${ttff.p95.toFixed(1)} ms, ${ttff.failures} of ${o.connections} failed`);
        r.load = await measureLoad(spec, o, errors, log);
      } catch (err) {
        errors.push((err as Error).message);
      }
      const ok = r.load.filter((s) => s.status === 'ok');
      const pv = perViewerCost(ok, o.viewerCounts);
      if (pv) r.perViewer = pv;
      if (!r.ttff || r.ttff.samplesMs.length === 0 || ok.length !== o.viewerCounts.length) r.status = 'failed';
      if (r.status === 'failed') log(`  ${spec.name}: FAILED: ${errors.join('; ')}`);
      results.push(r);
    }
    machine.loadAverageEnd = loadavg().map((l) => Math.round(l * 100) / 100);
    const report: PeerBenchReport = {
      kind: 'peers',
      startedAt: startedAt.toISOString(),
      viewer: 'kvs-edge native engine in viewer role (H.264 recvonly offer; first complete keyframe access unit; frames = complete access units), in the benchmark process',
      content: { ...CONTENT, file: 'generated at start: videotestsrc smpte (moving) -> openh264enc, 10 s looped', fileBytes, measuredKbps: Math.round((fileBytes * 8) / 10 / 1000) },
      machine,
      options: { ...o, senders: names },
      senders: results,
      ratios: ratios(results),
      underLoad: machine.loadAverageStart[0]! > machine.cores * 0.25,
    };
    const outDir = opts.outDir ?? join(ROOT, 'bench/results');
    mkdirSync(outDir, { recursive: true });
    const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
    const json = join(outDir, `peers-${stamp}.json`);
    const markdown = join(outDir, `peers-${stamp}.md`);
    report.files = { json, markdown };
    writeFileSync(json, JSON.stringify(report, null, 2));
    writeFileSync(markdown, toMarkdown(report));
    log('');
    log(toMarkdown(report));
    log(`written ${json}\n        ${markdown}`);
    return report;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}


export function ratios(results: SenderResult[]): PeerBenchReport['ratios'] {
  const kvs = results.filter((r) => KVS_EDGE_SENDERS.includes(r.name) && r.status === 'ok');
  const peers = results.filter((r) => !KVS_EDGE_SENDERS.includes(r.name) && r.status === 'ok');
  const ttff: Ratio[] = [];
  const perViewer: PeerBenchReport['ratios']['perViewer'] = [];
  for (const k of kvs) {
    for (const p of peers) {
      if (k.ttff && p.ttff) ttff.push({ kvsEdge: k.name, peer: p.name, ttffP50: round2(p.ttff.p50 / k.ttff.p50), ttffP95: round2(p.ttff.p95 / k.ttff.p95) });
    }
    const withCost = peers.filter((p) => p.perViewer);
    const bestCpu = [...withCost].sort((a, b) => a.perViewer!.cpuPctSlope - b.perViewer!.cpuPctSlope)[0];
    const bestMem = [...withCost].sort((a, b) => a.perViewer!.rssMiBSlope - b.perViewer!.rssMiBSlope)[0];
    if (k.perViewer && bestCpu && bestMem) {
      perViewer.push({
        kvsEdge: k.name,
        bestCpuPeer: bestCpu.name,
        cpu: round2(k.perViewer.cpuPctSlope / bestCpu.perViewer!.cpuPctSlope),
        bestMemoryPeer: bestMem.name,
        memory: round2(k.perViewer.rssMiBSlope / bestMem.perViewer!.rssMiBSlope),
      });
    }
  }
  return { ttff, perViewer };
}

const f1 = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(1));
const f2 = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(2));
const f3 = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? '–' : x.toFixed(3));

export function toMarkdown(r: PeerBenchReport): string {
  const m = r.machine;
  const counts = r.options.viewerCounts;
  const lines: string[] = [];
  lines.push(`### Senders side by side, ${r.content.height}p${r.content.fps} ${r.content.bitrateKbps} kbps H.264 (${r.startedAt})`);
  lines.push('');
  if (r.underLoad) lines.push(`**Taken under load** (load average ${m.loadAverageStart.join(' ')} at start on ${m.cores} cores, other work running): indicative only; rerun on an idle machine.`, '');
  lines.push(`Machine: ${m.cores} x ${m.cpu}, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}; load average at start ${m.loadAverageStart.join(' ')}, at end ${m.loadAverageEnd?.join(' ') ?? '?'}.`);
  lines.push(`Versions: ${Object.entries(m.versions).map(([k, v]) => `${k} ${v}`).join(', ')}.`);
  lines.push(`Viewer: ${r.viewer}. Content file: ${r.content.fileBytes} bytes, ${r.content.measuredKbps} kbps, GOP ${r.content.gop}.`);
  lines.push(`Time to first frame: viewer's createOffer -> first complete keyframe access unit, ${r.options.connections} sequential connections. CPU: run time (schedstat, ns) of every thread of the sender process and of its child processes over ${r.options.windowMs / 1000} s after ${r.options.warmupMs / 1000} s warm-up, % of one core, ± its standard error from ${SUB_WINDOWS} equal sub-windows (threads that exit during the window count up to the last 0.2 s poll before their exit). RSS: sum of VmRSS over the sender's processes, mean over the window (polled every 0.2 s). Per viewer: least-squares slope over the ${counts.join('/')} steps (± standard error; the ratios use it) and, in brackets, (figure at ${Math.max(...counts)} − figure at ${Math.min(...counts)}) / ${Math.max(...counts) - Math.min(...counts)}.`);
  lines.push('');
  const head = ['sender', 'TTFF p50 ms', 'TTFF p95 ms', 'failed', ...counts.flatMap((n) => [`CPU % ${n}v`, `RSS MiB ${n}v`, `fps/viewer (mean kbps) ${n}v`]), 'CPU %/viewer', 'RSS MiB/viewer', 'processes'];
  lines.push(`| ${head.join(' | ')} |`);
  lines.push(`|${head.map(() => '---').join('|')}|`);
  for (const s of r.senders) {
    const row = [s.status === 'ok' ? s.name : `${s.name} (FAILED)`, f1(s.ttff?.p50), f1(s.ttff?.p95), s.ttff ? `${s.ttff.failures}/${s.ttff.connections}` : '–'];
    for (const n of counts) {
      const st = s.load.find((l) => l.viewers === n);
      const kbps = st?.kbpsPerViewer?.length ? ` @ ${Math.round(st.kbpsPerViewer.reduce((a, b) => a + b, 0) / st.kbpsPerViewer.length)} kbps` : '';
      const fps = st?.fpsPerViewer?.length ? `${Math.min(...st.fpsPerViewer).toFixed(1)}–${Math.max(...st.fpsPerViewer).toFixed(1)}${kbps}` : '–';
      row.push(st?.status === 'ok' ? `${f2(st.cpuPct)} ± ${f2(st.cpuPctSe)}` : '–', st?.status === 'ok' ? f1(st.rssMiB) : '–', fps);
    }
    const pv = s.perViewer;
    row.push(pv ? `${f3(pv.cpuPctSlope)} ± ${f3(pv.cpuPctSlopeSe)} (${f3(pv.cpuPct)})` : '–', pv ? `${f3(pv.rssMiBSlope)} (${f3(pv.rssMiB)})` : '–');
    row.push([...new Set(s.load.filter((l) => l.processes !== undefined).map((l) => l.processes))].join('/') || '–');
    lines.push(`| ${row.join(' | ')} |`);
  }
  lines.push('');
  if (r.ratios.ttff.length) {
    lines.push('Time to first frame, peer / kvs-edge (above 1: kvs-edge faster; target ≥ 2 at p50):', '');
    lines.push('| kvs-edge variant | peer | p50 ratio | p95 ratio |', '|---|---|---|---|');
    for (const x of r.ratios.ttff) lines.push(`| ${x.kvsEdge} | ${x.peer} | ${f2(x.ttffP50)} | ${f2(x.ttffP95)} |`);
    lines.push('');
  }
  if (r.ratios.perViewer.length) {
    lines.push('Per added viewer (least-squares slopes), kvs-edge / best peer (below 1: kvs-edge cheaper; target ≤ 0.5; per-viewer costs near zero make these ratios noisy, see the ± above):', '');
    lines.push('| kvs-edge variant | CPU ratio (best peer) | memory ratio (best peer) |', '|---|---|---|');
    for (const x of r.ratios.perViewer) lines.push(`| ${x.kvsEdge} | ${f2(x.cpu)} (${x.bestCpuPeer}) | ${f2(x.memory)} (${x.bestMemoryPeer}) |`);
    lines.push('');
  }
  const kvs = r.senders.filter((s) => KVS_EDGE_SENDERS.includes(s.name) && s.perViewer);
  if (kvs.length) {
    lines.push(`Issue #3 target, each added viewer < 1 % of a core and < 1 MiB: ${kvs.map((s) => `${s.name} ${f3(s.perViewer!.cpuPctSlope)} % and ${f3(s.perViewer!.rssMiBSlope)} MiB per viewer`).join('; ')}.`, '');
  }
  // A sender whose viewers got clearly fewer frames than the content's rate (an encoder that skips
  // frames to hold the bitrate, or a starved sender) is measured doing less work: say so.
  for (const s of r.senders) {
    const slow = s.load.filter((l) => l.status === 'ok' && l.fpsPerViewer?.length && meanSd(l.fpsPerViewer).mean < 0.9 * r.content.fps);
    if (slow.length) lines.push(`- ${s.name}: viewers received fewer frames than the content's ${r.content.fps} fps (${slow.map((l) => `${meanSd(l.fpsPerViewer!).mean.toFixed(1)} fps on average with ${l.viewers} viewer(s)`).join(', ')}); its figures are for that rate.`);
  }
  for (const s of r.senders.filter((x) => x.errors.length)) lines.push(`- ${s.name}: ${s.errors.slice(0, 3).join('; ')}`);
  return `${lines.join('\n').trimEnd()}\n`;
}
