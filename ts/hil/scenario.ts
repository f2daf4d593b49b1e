// The hardware-in-the-loop scenario: drives one camera (device id + KVS channel) over MQTT while
// native viewers watch it, and checks that what the fleet asks for is what the viewers see.
//
//   1. status      the device's retained status says online; the status command answers
//   2. connect     N viewers connect; each gets a first frame (time to first frame, phases)
//   3. viewers     the device lists those N viewers
//   4. measure     every viewer receives frames (fps, bitrate, loss, RTT)
//   5. bitrate     set-bitrate to a lower rate; the viewers measure the drop; the old rate is restored
//   6. keyframe    a keyframe request reaches every viewer sooner than the periodic one would
//   7. kick        kick-viewer drops one viewer; it stops receiving, the others go on
//
// Each step is one TAP test point with its figures; the whole run is also one JSON report.
import os from 'node:os';
import { RemoteError } from '../remote/remote-error.js';
import { FleetClient } from '../remote/fleet-client.js';
import type { CredentialsProvider } from '../kvs/index.js';
import type { PeerStats } from '../native/index.js';
import { NativeViewer, sleep, windowBetween, type ViewWindow } from './native-viewer.js';

export interface ScenarioOptions {
  deviceId: string;
  channel: string;
  /** MQTT broker URL, e.g. mqtt://127.0.0.1:1883 */
  broker: string;
  mqttProtocol?: 4 | 5;
  topicPrefix?: string;
  region: string;
  credentials: CredentialsProvider;
  /** KVS control-plane endpoint; default AWS's. */
  endpoint?: string;
  viewers: number;
  /** Seconds per measurement window. */
  windowS: number;
  /** The lowered rate for the bitrate step; default a third of the rate the viewers measure. */
  bitrateKbps?: number;
  /** Called with each step as it finishes (for live output). */
  onStep?: (step: StepResult, index: number) => void;
}

export interface StepResult {
  name: string;
  ok: boolean;
  /** One line: what was checked and what was seen. */
  summary: string;
  data: Record<string, unknown>;
}

export interface ScenarioReport {
  deviceId: string;
  channel: string;
  startedAt: string;
  durationS: number;
  viewers: number;
  host: { hostname: string; cpus: number; cpuModel: string; node: string; loadavg: number[] };
  ok: boolean;
  steps: StepResult[];
}

interface DeviceConfig {
  video?: { fps?: number; keyframeInterval?: number; bitrate?: { startKbps?: number; minKbps?: number } };
}

export async function runScenario(o: ScenarioOptions): Promise<ScenarioReport> {
  const started = Date.now();
  const steps: StepResult[] = [];
  const viewers: NativeViewer[] = [];
  const record = (s: StepResult): boolean => {
    steps.push(s);
    o.onStep?.(s, steps.length);
    return s.ok;
  };
  const fc = await FleetClient.connect({ url: o.broker, ...(o.mqttProtocol ? { protocolVersion: o.mqttProtocol } : {}), ...(o.topicPrefix ? { topicPrefix: o.topicPrefix } : {}) });
  fc.on('error', () => undefined);
  const send = (command: string, args: Record<string, unknown> = {}): Promise<unknown> => fc.send(o.deviceId, command, args, { timeoutMs: 10_000 });
  let restoreKbps: number | undefined;
  try {
    if (!record(await stepStatus(fc, o.deviceId, send))) return report();
    const config = ((await send('get-config')) as { config?: DeviceConfig }).config ?? {};
    if (!record(await stepConnect(o, viewers))) return report();
    record(await stepViewers(send, viewers));
    if (!record(await stepMeasure(viewers, o.windowS))) return report();
    const start = config.video?.bitrate?.startKbps;
    restoreKbps = start;
    record(await stepBitrate(send, viewers, o, start, config.video?.bitrate?.minKbps));
    restoreKbps = undefined;
    record(await stepKeyframe(send, viewers, config));
    if (viewers.length >= 1) record(await stepKick(send, viewers));
    return report();
  } catch (err) {
    record({ name: 'error', ok: false, summary: `the scenario stopped: ${(err as Error).message}`, data: {} });
    return report();
  } finally {
    if (restoreKbps !== undefined) await send('set-bitrate', { kbps: restoreKbps }).catch(() => undefined);
    for (const v of viewers) v.close();
    await fc.close();
  }

  function report(): ScenarioReport {
    const cpus = os.cpus();
    return {
      deviceId: o.deviceId,
      channel: o.channel,
      startedAt: new Date(started).toISOString(),
      durationS: Math.round((Date.now() - started) / 100) / 10,
      viewers: o.viewers,
      host: { hostname: os.hostname(), cpus: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', node: process.version, loadavg: os.loadavg().map((x) => Math.round(x * 100) / 100) },
      ok: steps.length > 0 && steps.every((s) => s.ok),
      steps,
    };
  }
}

type Send = (command: string, args?: Record<string, unknown>) => Promise<unknown>;

async function stepStatus(fc: FleetClient, deviceId: string, send: Send): Promise<StepResult> {
  const retained = await fc.status(deviceId, 5000);
  let answered: Record<string, unknown> | undefined;
  let error: string | undefined;
  try {
    answered = (await send('status')) as Record<string, unknown>;
  } catch (err) {
    error = err instanceof RemoteError ? `${err.code}: ${err.message}` : (err as Error).message;
  }
  const online = retained?.['online'] === true;
  const ok = online && answered !== undefined;
  return {
    name: 'status',
    ok,
    summary: ok
      ? `device ${deviceId} is online (${String(answered?.['state'])}, encoder ${String(answered?.['encoder'])}, ${String(answered?.['viewers'])} viewers)`
      : retained === null ? `no retained status from ${deviceId} on the broker` : !online ? `device ${deviceId} reports offline` : `status command failed: ${error}`,
    data: { retained: retained ?? null, status: answered ?? null, ...(error ? { error } : {}) },
  };
}

async function stepConnect(o: ScenarioOptions, viewers: NativeViewer[]): Promise<StepResult> {
  const run = `${Date.now().toString(36)}`;
  const connected = await Promise.allSettled(Array.from({ length: o.viewers }, (_, i) =>
    NativeViewer.connect({ channel: o.channel, region: o.region, credentials: o.credentials, clientId: `hil-${run}-${i + 1}`, ...(o.endpoint ? { endpoint: o.endpoint } : {}) })));
  const failures: string[] = [];
  for (const c of connected) {
    if (c.status === 'fulfilled') viewers.push(c.value);
    else failures.push((c.reason as Error).message);
  }
  const firstFrames = await Promise.all(viewers.map((v) => v.until((s) => s.framesReceived > 0, 20_000)));
  const per = await Promise.all(viewers.map(async (v, i) => {
    const s = await v.stats();
    return {
      clientId: v.clientId,
      answered: v.answerMs !== undefined,
      firstFrame: firstFrames[i],
      timeToFirstFrameMs: round(s.timing.firstFrameReceivedMs),
      phases: { answerMs: round(v.answerMs), iceMs: round(s.timing.iceConnectedMs), dtlsMs: round(s.timing.dtlsConnectedMs), firstKeyframeMs: round(s.timing.firstFrameReceivedMs) },
    };
  }));
  const ttffs = per.map((p) => p.timeToFirstFrameMs).filter((x): x is number => x !== undefined).sort((a, b) => a - b);
  const ok = failures.length === 0 && viewers.length === o.viewers && per.every((p) => p.firstFrame);
  return {
    name: 'connect',
    ok,
    summary: ok
      ? `${viewers.length} viewers connected; time to first frame p50 ${percentile(ttffs, 0.5)} ms, max ${ttffs.at(-1)} ms`
      : `${per.filter((p) => p.firstFrame).length} of ${o.viewers} viewers got a first frame${failures.length ? `; errors: ${failures.join('; ')}` : ''}`,
    data: { viewers: per, ttffP50Ms: percentile(ttffs, 0.5), ttffMaxMs: ttffs.at(-1) ?? null, errors: failures },
  };
}

async function stepViewers(send: Send, viewers: NativeViewer[]): Promise<StepResult> {
  const listed = await listedViewers(send);
  const missing = viewers.map((v) => v.clientId).filter((id) => !listed.includes(id));
  return {
    name: 'viewers',
    ok: missing.length === 0,
    summary: missing.length === 0 ? `the device lists all ${viewers.length} viewers` : `the device does not list ${missing.join(', ')}`,
    data: { listed },
  };
}

async function listedViewers(send: Send): Promise<string[]> {
  const r = (await send('viewers')) as { viewers?: ({ clientId?: string } | string)[] };
  return (r.viewers ?? []).map((v) => (typeof v === 'string' ? v : String(v.clientId)));
}

/** One measurement window over all viewers at once. */
async function measureAll(viewers: NativeViewer[], seconds: number): Promise<(ViewWindow & { clientId: string; rttMs?: number; glassToGlassMs?: number })[]> {
  const before = await Promise.all(viewers.map((v) => v.stats()));
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const after = await Promise.all(viewers.map((v) => v.stats()));
  const secs = (performance.now() - t0) / 1000;
  return viewers.map((v, i) => {
    const s = after[i]!;
    return {
      clientId: v.clientId,
      ...windowBetween(before[i]!, s, secs),
      ...(s.rttMs !== undefined ? { rttMs: s.rttMs } : {}),
      // When the camera stamps capture times (video.captureTimestamps).
      ...(s.glassToGlassMeanMs !== undefined ? { glassToGlassMs: Math.round(s.glassToGlassMeanMs) } : {}),
    };
  });
}

function mean(xs: number[]): number {
  return xs.length ? Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 10) / 10 : 0;
}

async function stepMeasure(viewers: NativeViewer[], windowS: number): Promise<StepResult> {
  const w = await measureAll(viewers, windowS);
  const ok = w.every((x) => x.frames > 0);
  return {
    name: 'measure',
    ok,
    summary: `over ${windowS} s: fps ${mean(w.map((x) => x.fps))}, ${mean(w.map((x) => x.bitrateKbps))} kbps, loss ${mean(w.map((x) => x.lossPercent))} % (mean of ${w.length} viewers)${ok ? '' : '; a viewer received no frames'}`,
    data: { windows: w },
  };
}

async function stepBitrate(send: Send, viewers: NativeViewer[], o: ScenarioOptions, startKbps: number | undefined, minKbps: number | undefined): Promise<StepResult> {
  const before = await measureAll(viewers, o.windowS);
  const beforeKbps = mean(before.map((x) => x.bitrateKbps));
  // A third of what the viewers measure (a test pattern may use far less than the configured rate).
  const target = o.bitrateKbps ?? Math.max(minKbps ?? 50, 50, Math.round(beforeKbps / 3));
  await send('set-bitrate', { kbps: target });
  await sleep(1500); // the encoder's rate control settles over about a second
  const after = await measureAll(viewers, o.windowS);
  const afterKbps = mean(after.map((x) => x.bitrateKbps));
  let restored: number | undefined;
  if (startKbps !== undefined) {
    await send('set-bitrate', { kbps: startKbps });
    restored = startKbps;
  }
  // Seen by the viewers: the rate fell well below what it was and to about the target (rate
  // control overshoots on keyframes, and headers cost a few kbps: half again over the target
  // plus 30 kbps still counts as following).
  const ok = afterKbps < beforeKbps * 0.7 && afterKbps <= target * 1.5 + 30 && after.every((x) => x.frames > 0);
  return {
    name: 'bitrate',
    ok,
    summary: `set-bitrate ${target} kbps: viewers measured ${beforeKbps} -> ${afterKbps} kbps${restored !== undefined ? ` (restored to ${restored} kbps)` : ''}`,
    data: { targetKbps: target, beforeKbps, afterKbps, before, after, ...(restored !== undefined ? { restoredKbps: restored } : {}) },
  };
}

async function stepKeyframe(send: Send, viewers: NativeViewer[], config: DeviceConfig): Promise<StepResult> {
  const fps = config.video?.fps ?? 30;
  const gopMs = ((config.video?.keyframeInterval ?? 60) / fps) * 1000;
  // Wait for a periodic keyframe to pass first, so the next periodic one is a whole GOP away.
  const base = await Promise.all(viewers.map((v) => v.stats()));
  await Promise.all(viewers.map((v, i) => v.until((s) => s.keyframesReceived > base[i]!.keyframesReceived, Math.min(gopMs + 1000, 3000))));
  const k0 = await Promise.all(viewers.map((v) => v.stats()));
  const t0 = performance.now();
  await send('keyframe');
  const deadline = Math.min(5000, gopMs * 0.8);
  const latencies = await Promise.all(viewers.map(async (v, i) => {
    const got = await v.until((s) => s.keyframesReceived > k0[i]!.keyframesReceived, deadline, 10);
    return got ? Math.round(performance.now() - t0) : null;
  }));
  const ok = latencies.every((l) => l !== null);
  const conclusive = gopMs >= 1500;
  return {
    name: 'keyframe',
    ok,
    summary: ok
      ? `a keyframe reached every viewer ${Math.max(...(latencies as number[]))} ms after the request at most (periodic GOP ${Math.round(gopMs)} ms${conclusive ? '' : ': too short to tell a requested keyframe from a periodic one'})`
      : `${latencies.filter((l) => l === null).length} viewers got no keyframe within ${Math.round(deadline)} ms of the request`,
    data: { latenciesMs: latencies, gopMs: Math.round(gopMs), conclusive },
  };
}

async function stepKick(send: Send, viewers: NativeViewer[]): Promise<StepResult> {
  const victim = viewers.at(-1)!;
  const others = viewers.slice(0, -1);
  let error: string | undefined;
  try {
    await send('kick-viewer', { clientId: victim.clientId });
  } catch (err) {
    error = err instanceof RemoteError ? `${err.code}: ${err.message}` : (err as Error).message;
  }
  // The kicked viewer's connection ends (DTLS close_notify -> closed) and its frames stop.
  const ended = await victim.until((s: PeerStats) => s.state === 'closed' || s.state === 'failed' || s.state === 'disconnected', 10_000, 50);
  const stopped = await framesStopped(victim);
  const listed = await listedViewers(send);
  const w = others.length ? await measureAll(others, 2) : [];
  const ok = error === undefined && ended && stopped && !listed.includes(victim.clientId) && w.every((x) => x.frames > 0);
  return {
    name: 'kick',
    ok,
    summary: ok
      ? `kicked ${victim.clientId}: its connection ended and frames stopped; ${others.length} other viewers go on (fps ${mean(w.map((x) => x.fps))})`
      : `kick-viewer ${victim.clientId}: ${error ?? `connection ended ${ended}, frames stopped ${stopped}, still listed ${listed.includes(victim.clientId)}, others receiving ${w.every((x) => x.frames > 0)}`}`,
    data: { clientId: victim.clientId, ended, framesStopped: stopped, listedAfter: listed, others: w, ...(error ? { error } : {}) },
  };
}

async function framesStopped(v: NativeViewer): Promise<boolean> {
  const a = (await v.stats()).framesReceived;
  await sleep(1000);
  return (await v.stats()).framesReceived === a;
}

function round(x: number | undefined): number | undefined {
  return x === undefined ? undefined : Math.round(x);
}

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** The report as TAP 14: one test point per step, its figures as a YAML-ish block. */
export function toTap(r: ScenarioReport): string {
  const lines = ['TAP version 14', `# kvs-edge HIL: device ${r.deviceId}, channel ${r.channel}, ${r.viewers} viewers, ${r.startedAt}`, `1..${r.steps.length}`];
  r.steps.forEach((s, i) => {
    lines.push(`${s.ok ? 'ok' : 'not ok'} ${i + 1} - ${s.name}: ${s.summary}`);
    lines.push('  ---', `  data: ${JSON.stringify(s.data)}`, '  ...');
  });
  lines.push(`# ${r.steps.filter((s) => s.ok).length} of ${r.steps.length} steps passed in ${r.durationS} s`);
  return `${lines.join('\n')}\n`;
}
