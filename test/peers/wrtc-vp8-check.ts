// Child process of harness-wrtc.test.ts: a wrtc viewer receives VP8 from headless Chromium (a
// canvas stream) and prints what it measured as one JSON line. Run in a child because
// @roamhq/wrtc 0.10.0 crashes (SIGSEGV) at process exit once it has received video.
import { EventEmitter } from 'node:events';
import type { Page } from 'playwright-core';
import { ChromiumHost } from './chromium.js';
import { connectToEngine, type EnginePeer, type IceCandidateInit } from './viewer.js';
import { WrtcViewer } from './wrtc.js';

declare const window: { __send: RTCPeerConnection; __senderCandidate(json: string): void; __senderState(s: string): void };

/** Chromium answering with a 320x240 canvas stream at 30 fps. */
class ChromiumCanvasSender extends EventEmitter<{ candidate: [IceCandidateInit]; state: [string] }> implements EnginePeer {
  constructor(private readonly page: Page) {
    super();
  }
  async init(): Promise<void> {
    await this.page.exposeFunction('__senderCandidate', (json: string) => {
      const c = JSON.parse(json) as IceCandidateInit | null;
      this.emit('candidate', c ?? { candidate: '' });
    });
    await this.page.exposeFunction('__senderState', (s: string) => this.emit('state', s));
  }
  setRemoteOffer(sdp: string): Promise<string> {
    return this.page.evaluate(async (offer) => {
      const canvas = document.createElement('canvas');
      canvas.width = 320;
      canvas.height = 240;
      document.body.appendChild(canvas);
      const ctx = canvas.getContext('2d')!;
      let n = 0;
      setInterval(() => {
        ctx.fillStyle = `hsl(${(n * 7) % 360} 80% 50%)`;
        ctx.fillRect(0, 0, 320, 240);
        ctx.fillStyle = '#fff';
        ctx.fillText(String(n++), 10, 20);
      }, 33);
      const stream = canvas.captureStream(30);
      const pc = new RTCPeerConnection({ iceServers: [] });
      window.__send = pc;
      pc.onicecandidate = (e) => window.__senderCandidate(JSON.stringify(e.candidate ? e.candidate.toJSON() : null));
      pc.onconnectionstatechange = () => window.__senderState(pc.connectionState);
      await pc.setRemoteDescription({ type: 'offer', sdp: offer });
      pc.getTransceivers()[0]!.sender.replaceTrack(stream.getVideoTracks()[0]!);
      pc.getTransceivers()[0]!.direction = 'sendonly';
      await pc.setLocalDescription(await pc.createAnswer());
      return pc.localDescription!.sdp;
    }, sdp);
  }
  async addRemoteCandidate(c: IceCandidateInit): Promise<void> {
    if (!c.candidate) return;
    await this.page.evaluate((cand) => window.__send.addIceCandidate(cand), { candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null });
  }
}

const host = await ChromiumHost.launch();
const viewer = new WrtcViewer({ name: 'wrtc' });
try {
  const page = await host.browser.newPage();
  const sender = new ChromiumCanvasSender(page);
  await sender.init();
  await connectToEngine(viewer, sender);
  const stats = await viewer.waitForFrames(60, 10_000);
  process.stdout.write(`RESULT ${JSON.stringify(stats)}\n`);
} catch (e) {
  process.stdout.write(`ERROR ${String(e)}\n`);
} finally {
  await viewer.close();
  await host.close();
}
