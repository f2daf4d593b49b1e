// Time to first frame on loopback: from the viewer's createOffer to its first decoded frame,
// kvs-edge answering a headless Chromium viewer, over N connections (each a new peer).
import { PeerConnection, VideoTrack } from '../ts/native/index.js';
import { launchChromium, percentile, timeToFirstFrame } from './chromium-viewer.js';

export interface TtffResult {
  name: string;
  connections: number;
  samplesMs: number[];
  p50: number;
  p95: number;
  failures: number;
  /** Engine-side phases (ms after the offer reached the engine), p50. */
  phases?: { iceConnected: number; dtlsConnected: number; firstFrameSent: number };
}

export async function benchKvsEdgeTtff(connections = 20, video = { width: 1280, height: 720, fps: 30, bitrateKbps: 2000 }): Promise<TtffResult> {
  const browser = await launchChromium();
  const track = new VideoTrack(video);
  const samples: number[] = [];
  const ice: number[] = [], dtls: number[] = [], sent: number[] = [];
  let failures = 0;
  try {
    for (let i = 0; i < connections; i++) {
      const page = await browser.newPage();
      const pc = new PeerConnection({ id: `bench-${i}` });
      pc.addTrack(track);
      try {
        const ms = await timeToFirstFrame(page, {
          offer: (sdp) => pc.setRemoteOffer(sdp),
          candidate: (c) => { try { pc.addRemoteCandidate(c); } catch { /* mDNS or late: ICE finds it */ } },
          onCandidate: (cb) => pc.on('candidate', cb),
        });
        samples.push(ms);
        const { timing } = await pc.getStats();
        if (timing.iceConnectedMs !== undefined) ice.push(timing.iceConnectedMs);
        if (timing.dtlsConnectedMs !== undefined) dtls.push(timing.dtlsConnectedMs);
        if (timing.firstFrameSentMs !== undefined) sent.push(timing.firstFrameSentMs);
      } catch {
        failures++;
      } finally {
        pc.close();
        await page.close();
      }
    }
  } finally {
    track.close();
    await browser.close();
  }
  return {
    name: 'kvs-edge', connections, samplesMs: samples, p50: percentile(samples, 50), p95: percentile(samples, 95), failures,
    phases: { iceConnected: percentile(ice, 50), dtlsConnected: percentile(dtls, 50), firstFrameSent: percentile(sent, 50) },
  };
}
