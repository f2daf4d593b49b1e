// Software encoder benchmark (printed, never asserted): openh264 frames per second and CPU on
// this machine at 640x480, 1280x720 and 1920x1080, encoding the test pattern as fast as it goes,
// and the per-frame encode-to-send latency (picture in -> RTP payloads ready for the sockets).
// Then the same path end to end on loopback: capture -> encode -> packetize -> SRTP -> UDP ->
// the engine as viewer, from the capture-timestamp SEI (glass-to-glass up to depacketization).
//
//   npm run bench -- encoder        only this benchmark
//   node --import tsx bench/encoder.ts
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { PeerConnection, VideoTrack, benchEncoder } from '../ts/native/index.js';
import { percentile } from './chromium-viewer.js';

const SIZES = [
  { width: 640, height: 480, bitrateKbps: 1000 },
  { width: 1280, height: 720, bitrateKbps: 2000 },
  { width: 1920, height: 1080, bitrateKbps: 4000 },
];

export interface EncoderBenchRow {
  size: string;
  frames: number;
  fps: number;
  /** CPU time of the encoding thread over wall time, % of one core. */
  cpuPercent: number;
  cpuMsPerFrame: number;
  encodeToSendMs: { p50: number; p95: number; max: number };
  kbpsAt30fps: number;
}

export async function main(): Promise<{ rows: EncoderBenchRow[]; loopback: Record<string, number> }> {
  const frames = Number(process.env.BENCH_ENCODER_FRAMES ?? 150);
  console.log(`\n## Software encoder (openh264), test pattern, ${frames} frames per size, one thread`);
  const rows: EncoderBenchRow[] = [];
  for (const s of SIZES) {
    benchEncoder({ ...s, frames: 10 }); // warm-up
    const r = benchEncoder({ ...s, frames });
    const lat = [...r.latencyMs].sort((a, b) => a - b);
    const row: EncoderBenchRow = {
      size: `${s.width}x${s.height}`,
      frames: r.encoded,
      fps: (r.encoded / (r.wallMs - r.renderMs)) * 1000,
      cpuPercent: (r.cpuMs / r.wallMs) * 100,
      cpuMsPerFrame: (r.cpuMs - r.renderMs) / Math.max(1, r.encoded),
      encodeToSendMs: { p50: percentile(lat, 50), p95: percentile(lat, 95), max: lat[lat.length - 1] ?? 0 },
      kbpsAt30fps: (r.bytes * 8 * 30) / Math.max(1, r.encoded) / 1000,
    };
    rows.push(row);
    console.log(
      `${row.size.padEnd(9)} ${row.fps.toFixed(1).padStart(6)} fps  CPU ${row.cpuPercent.toFixed(0)}% of a core (${row.cpuMsPerFrame.toFixed(2)} ms/frame)  ` +
        `encode-to-send p50 ${row.encodeToSendMs.p50.toFixed(2)} ms, p95 ${row.encodeToSendMs.p95.toFixed(2)} ms  (${row.kbpsAt30fps.toFixed(0)} kbps at 30 fps)`,
    );
  }

  console.log('\n## Capture to viewer on loopback (SEI timestamps, engine as viewer), 720p30 2 Mbps, 5 s');
  const track = new VideoTrack({ width: 1280, height: 720, fps: 30, bitrateKbps: 2000, captureTimestamps: true });
  const camera = new PeerConnection({ id: 'bench-camera', localAddresses: ['127.0.0.1'] });
  camera.addTrack(track);
  const viewer = new PeerConnection({ id: 'bench-viewer', localAddresses: ['127.0.0.1'] });
  const early: { candidate: string; sdpMid?: string | null }[] = [];
  let answered = false;
  camera.on('candidate', (c) => (answered ? viewer.addRemoteCandidate(c) : early.push(c)));
  viewer.on('candidate', (c) => camera.addRemoteCandidate(c));
  await viewer.setRemoteAnswer(await camera.setRemoteOffer(await viewer.createOffer({ video: true })));
  answered = true;
  for (const c of early.splice(0)) viewer.addRemoteCandidate(c);
  const samples: number[] = [];
  let last = -1;
  for (let end = Date.now() + 5000; Date.now() < end; ) {
    await new Promise((r) => setTimeout(r, 33));
    const s = await viewer.getStats();
    if (s.glassToGlassSamples !== undefined && s.glassToGlassSamples !== last && s.glassToGlassMs !== undefined) {
      samples.push(s.glassToGlassMs);
      last = s.glassToGlassSamples;
    }
  }
  const final = await viewer.getStats();
  viewer.close();
  camera.close();
  track.close();
  samples.sort((a, b) => a - b);
  const loopback = { frames: final.framesReceived, meanMs: final.glassToGlassMeanMs ?? NaN, p50Ms: percentile(samples, 50), p95Ms: percentile(samples, 95) };
  console.log(`capture -> received: mean ${loopback.meanMs.toFixed(2)} ms over ${loopback.frames} frames; sampled p50 ${loopback.p50Ms.toFixed(2)} ms, p95 ${loopback.p95Ms.toFixed(2)} ms`);

  mkdirSync('bench/results', { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const file = `bench/results/encoder-${stamp}.json`;
  writeFileSync(file, JSON.stringify({ machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version }, rows, loopback }, null, 2));
  console.log(`written ${file}`);
  return { rows, loopback };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();
