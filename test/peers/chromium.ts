// Headless Chromium (Debian's /usr/bin/chromium through playwright-core) as KVS viewers.
// One browser hosts any number of viewers, one page each. Frames are counted by Chromium's own
// decoder: getStats() inbound-rtp framesDecoded / keyFramesDecoded / frameWidth / frameHeight.

import { chromium, type Browser, type Page } from 'playwright-core';
import { FrameTimeoutError, sleep, type IceCandidateInit, type Viewer, type VideoReceiveStats, type ViewerOptions } from './viewer.js';

export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  // Real host addresses instead of .local mDNS names, and candidates on 127.0.0.1.
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--allow-loopback-in-peer-connection',
];

/** One headless browser; close() it when done (it closes every page). */
export class ChromiumHost {
  private constructor(readonly browser: Browser) {}

  static async launch(): Promise<ChromiumHost> {
    const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout: 60_000 });
    return new ChromiumHost(browser);
  }

  async newViewer(opts: ViewerOptions = {}): Promise<ChromiumViewer> {
    const page = await this.browser.newPage();
    const viewer = new ChromiumViewer(page, opts);
    await viewer.init();
    return viewer;
  }

  async close(): Promise<void> {
    await this.browser.close();
  }
}

interface PageStats {
  frames: number;
  keyframes: number;
  width?: number;
  height?: number;
  codec?: string;
  firstFrameMs?: number;
}

// The code below runs inside the page. It is written as plain functions evaluated by
// playwright, so it only uses browser APIs.
declare const window: {
  __kvs: {
    pc?: RTCPeerConnectionLike;
    t0: number;
    firstFrameMs?: number;
    polling: boolean;
  };
  __kvsCandidate(c: string): void;
  __kvsState(s: string): void;
};
interface RTCPeerConnectionLike {
  close(): void;
}

export class ChromiumViewer implements Viewer {
  readonly kind = 'chromium' as const;
  private readonly candidateCbs: ((c: IceCandidateInit) => void)[] = [];
  private readonly stateCbs: ((s: string) => void)[] = [];
  private closed = false;

  constructor(
    readonly page: Page,
    private readonly opts: ViewerOptions,
  ) {}

  async init(): Promise<void> {
    await this.page.exposeFunction('__kvsCandidate', (json: string) => {
      const c = JSON.parse(json) as IceCandidateInit | null;
      const init: IceCandidateInit = c ?? { candidate: '', sdpMid: null, sdpMLineIndex: null };
      for (const cb of this.candidateCbs) cb(init);
    });
    await this.page.exposeFunction('__kvsState', (s: string) => {
      for (const cb of this.stateCbs) cb(s);
    });
  }

  async createOffer(): Promise<string> {
    return this.page.evaluate(
      async ({ audio, dataChannel }) => {
        const t0 = performance.now();
        const pc = new RTCPeerConnection({ iceServers: [] });
        window.__kvs = { pc, t0, polling: false };
        pc.onicecandidate = (e) => window.__kvsCandidate(JSON.stringify(e.candidate ? e.candidate.toJSON() : null));
        pc.onconnectionstatechange = () => window.__kvsState(pc.connectionState);
        pc.ontrack = (e) => {
          if (e.track.kind !== 'video') return;
          // A playing <video> sink, as in a real viewer page.
          const video = document.createElement('video');
          video.muted = true;
          video.autoplay = true;
          video.playsInline = true;
          video.srcObject = new MediaStream([e.track]);
          document.body.appendChild(video);
          void video.play().catch(() => undefined);
        };
        pc.addTransceiver('video', { direction: 'recvonly' });
        if (audio) pc.addTransceiver('audio', { direction: 'recvonly' });
        if (dataChannel) pc.createDataChannel('kvsDataChannel');
        const offer = await pc.createOffer();
        await pc.setLocalDescription(offer);
        return pc.localDescription?.sdp ?? offer.sdp ?? '';
      },
      { audio: this.opts.audio ?? false, dataChannel: this.opts.dataChannel ?? false },
    );
  }

  async setAnswer(sdp: string): Promise<void> {
    await this.page.evaluate(async (answer) => {
      const kvs = window.__kvs;
      const pc = kvs.pc as RTCPeerConnection;
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
      // Time to first decoded frame, measured in the page at 10 ms resolution; bounded to 60 s.
      kvs.polling = true;
      void (async () => {
        const deadline = performance.now() + 60_000;
        while (kvs.polling && performance.now() < deadline && pc.connectionState !== 'closed') {
          const report = await pc.getStats();
          let decoded = 0;
          report.forEach((r: { type: string; kind?: string; framesDecoded?: number }) => {
            if (r.type === 'inbound-rtp' && r.kind === 'video') decoded = r.framesDecoded ?? 0;
          });
          if (decoded > 0) {
            kvs.firstFrameMs = performance.now() - kvs.t0;
            break;
          }
          await new Promise((r) => setTimeout(r, 10));
        }
        kvs.polling = false;
      })();
    }, sdp);
  }

  async addCandidate(c: IceCandidateInit): Promise<void> {
    if (this.closed) return;
    await this.page.evaluate(async (cand) => {
      const pc = window.__kvs.pc as RTCPeerConnection;
      if (cand.candidate === '') {
        // End-of-candidates (RFC 8838): an empty candidate for the first media section.
        await pc.addIceCandidate({ candidate: '', sdpMLineIndex: cand.sdpMLineIndex ?? 0, sdpMid: cand.sdpMid ?? null });
        return;
      }
      await pc.addIceCandidate({ candidate: cand.candidate, sdpMid: cand.sdpMid ?? null, sdpMLineIndex: cand.sdpMLineIndex ?? null });
    }, c);
  }

  onCandidate(cb: (c: IceCandidateInit) => void): void {
    this.candidateCbs.push(cb);
  }

  onState(cb: (s: string) => void): void {
    this.stateCbs.push(cb);
  }

  async stats(): Promise<VideoReceiveStats> {
    const s = await this.page.evaluate(async (): Promise<PageStats> => {
      const kvs = window.__kvs;
      const out: PageStats = { frames: 0, keyframes: 0 };
      if (kvs.firstFrameMs !== undefined) out.firstFrameMs = kvs.firstFrameMs;
      const pc = kvs.pc as RTCPeerConnection | undefined;
      if (!pc) return out;
      const report = await pc.getStats();
      const codecs = new Map<string, string>();
      let codecId: string | undefined;
      report.forEach(
        (r: { type: string; id: string; kind?: string; mimeType?: string; codecId?: string; framesDecoded?: number; keyFramesDecoded?: number; frameWidth?: number; frameHeight?: number }) => {
          if (r.type === 'codec' && r.mimeType) codecs.set(r.id, r.mimeType);
          if (r.type === 'inbound-rtp' && r.kind === 'video') {
            out.frames = r.framesDecoded ?? 0;
            out.keyframes = r.keyFramesDecoded ?? 0;
            if (r.frameWidth !== undefined) out.width = r.frameWidth;
            if (r.frameHeight !== undefined) out.height = r.frameHeight;
            codecId = r.codecId;
          }
        },
      );
      const codec = codecId ? codecs.get(codecId) : undefined;
      if (codec) out.codec = codec;
      return out;
    });
    return s;
  }

  async waitForFrames(n: number, timeoutMs: number): Promise<VideoReceiveStats> {
    const deadline = Date.now() + timeoutMs;
    let last = await this.stats();
    while (last.frames < n) {
      if (Date.now() >= deadline) {
        throw new FrameTimeoutError(this.opts.name ?? 'chromium viewer', n, timeoutMs, last);
      }
      await sleep(Math.min(200, Math.max(0, deadline - Date.now())));
      last = await this.stats();
    }
    return last;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.page.evaluate(() => {
        window.__kvs.polling = false;
        window.__kvs.pc?.close();
      });
    } catch {
      // page already gone with its browser
    }
    await this.page.close().catch(() => undefined);
  }
}
