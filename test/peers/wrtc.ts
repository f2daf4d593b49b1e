// @roamhq/wrtc (libwebrtc in Node) as a KVS viewer. Frames are counted after decoding, through
// the nonstandard RTCVideoSink (each onframe event carries a decoded I420 frame).
//
// Note: the prebuilt @roamhq/wrtc 0.10.0 for linux-x64 is built without H.264: its offer lists
// VP8, VP9 and AV1 only (RTCRtpReceiver.getCapabilities('video') has no video/H264).
// wrtcSupportsH264() tells, so a test can say so instead of failing obscurely.

import { createRequire } from 'node:module';
import type { IceCandidateInit, Viewer, VideoReceiveStats, ViewerOptions } from './viewer.js';
import { FrameTimeoutError } from './viewer.js';

// Minimal typings of the parts used here: the package's own types lean on the DOM lib.
interface WrtcIceCandidate {
  candidate: string;
  sdpMid: string | null;
  sdpMLineIndex: number | null;
}
interface WrtcTrack {
  kind: string;
  stop(): void;
}
interface WrtcStats {
  forEach(cb: (s: Record<string, unknown>) => void): void;
}
interface WrtcPeerConnection {
  addTransceiver(kind: 'audio' | 'video', init?: { direction: string }): unknown;
  createDataChannel(label: string): { close(): void };
  createOffer(): Promise<{ type: string; sdp: string }>;
  setLocalDescription(d: { type: string; sdp: string }): Promise<void>;
  setRemoteDescription(d: { type: string; sdp: string }): Promise<void>;
  addIceCandidate(c: WrtcIceCandidate | { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null }): Promise<void>;
  getStats(): Promise<WrtcStats>;
  close(): void;
  localDescription: { sdp: string } | null;
  connectionState: string;
  onicecandidate: ((e: { candidate: WrtcIceCandidate | null }) => void) | null;
  onconnectionstatechange: (() => void) | null;
  ontrack: ((e: { track: WrtcTrack }) => void) | null;
}
interface WrtcVideoSink {
  stop(): void;
  onframe: ((e: { frame: { width: number; height: number; data: Uint8Array } }) => void) | null;
}
export interface WrtcModule {
  RTCPeerConnection: new (config?: { iceServers?: unknown[] }) => WrtcPeerConnection;
  RTCRtpReceiver: { getCapabilities(kind: string): { codecs: { mimeType: string }[] } | null };
  nonstandard: {
    RTCVideoSink: new (track: WrtcTrack) => WrtcVideoSink;
    RTCVideoSource: new () => { createTrack(): WrtcTrack; onFrame(f: { width: number; height: number; data: Uint8Array }): void };
  };
  MediaStream: new (tracks?: WrtcTrack[]) => unknown;
}

const require = createRequire(import.meta.url);
export const wrtc = require('@roamhq/wrtc') as WrtcModule;

/** Whether this build of libwebrtc can receive H.264 at all. */
export function wrtcSupportsH264(): boolean {
  const caps = wrtc.RTCRtpReceiver.getCapabilities('video');
  return (caps?.codecs ?? []).some((c) => c.mimeType.toLowerCase() === 'video/h264');
}

export class WrtcViewer implements Viewer {
  readonly kind = 'wrtc' as const;
  private readonly pc: WrtcPeerConnection;
  private readonly candidateCbs: ((c: IceCandidateInit) => void)[] = [];
  private readonly stateCbs: ((s: string) => void)[] = [];
  private sink?: WrtcVideoSink;
  private frames = 0;
  private width?: number;
  private height?: number;
  private startedAt = Date.now();
  private firstFrameAt?: number;
  private waiters: { n: number; resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];
  private closed = false;

  constructor(private readonly opts: ViewerOptions = {}) {
    this.pc = new wrtc.RTCPeerConnection({ iceServers: [] });
    this.pc.onicecandidate = (e) => {
      const init: IceCandidateInit = e.candidate
        ? { candidate: e.candidate.candidate, sdpMid: e.candidate.sdpMid, sdpMLineIndex: e.candidate.sdpMLineIndex }
        : { candidate: '', sdpMid: null, sdpMLineIndex: null };
      for (const cb of this.candidateCbs) cb(init);
    };
    this.pc.onconnectionstatechange = () => {
      const s = this.pc.connectionState;
      for (const cb of this.stateCbs) cb(s);
    };
    this.pc.ontrack = (e) => {
      if (e.track.kind !== 'video' || this.sink) return;
      this.sink = new wrtc.nonstandard.RTCVideoSink(e.track);
      this.sink.onframe = ({ frame }) => this.onFrame(frame.width, frame.height);
    };
  }

  private onFrame(width: number, height: number): void {
    if (this.closed) return;
    if (this.frames === 0) this.firstFrameAt = Date.now();
    this.frames++;
    this.width = width;
    this.height = height;
    const ready = this.waiters.filter((w) => this.frames >= w.n);
    this.waiters = this.waiters.filter((w) => this.frames < w.n);
    for (const w of ready) w.resolve();
  }

  async createOffer(): Promise<string> {
    this.startedAt = Date.now();
    this.pc.addTransceiver('video', { direction: 'recvonly' });
    if (this.opts.audio) this.pc.addTransceiver('audio', { direction: 'recvonly' });
    if (this.opts.dataChannel) this.pc.createDataChannel('kvsDataChannel');
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    return this.pc.localDescription?.sdp ?? offer.sdp;
  }

  async setAnswer(sdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
  }

  async addCandidate(c: IceCandidateInit): Promise<void> {
    if (c.candidate === '') return;
    await this.pc.addIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? 0 });
  }

  onCandidate(cb: (c: IceCandidateInit) => void): void {
    this.candidateCbs.push(cb);
  }

  onState(cb: (s: string) => void): void {
    this.stateCbs.push(cb);
  }

  async stats(): Promise<VideoReceiveStats> {
    const s: VideoReceiveStats = { frames: this.frames, keyframes: 0 };
    if (this.width !== undefined) s.width = this.width;
    if (this.height !== undefined) s.height = this.height;
    if (this.firstFrameAt !== undefined) s.firstFrameMs = this.firstFrameAt - this.startedAt;
    if (!this.closed) {
      // libwebrtc's standard stats say how many of the decoded frames were keyframes, and which codec.
      const report = await this.pc.getStats();
      const codecs = new Map<string, string>();
      let codecId: unknown;
      report.forEach((r) => {
        if (r['type'] === 'codec') codecs.set(String(r['id']), String(r['mimeType']));
        if (r['type'] === 'inbound-rtp' && r['kind'] === 'video') {
          if (typeof r['keyFramesDecoded'] === 'number') s.keyframes = r['keyFramesDecoded'];
          codecId = r['codecId'];
        }
      });
      const codec = codecs.get(String(codecId));
      if (codec) s.codec = codec;
    }
    return s;
  }

  waitForFrames(n: number, timeoutMs: number): Promise<VideoReceiveStats> {
    if (this.frames >= n) return this.stats();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        this.stats().then(
          (s) => reject(new FrameTimeoutError(this.opts.name ?? 'wrtc viewer', n, timeoutMs, s)),
          reject,
        );
      }, timeoutMs);
      const w = {
        n,
        timer,
        reject,
        resolve: () => {
          clearTimeout(timer);
          this.stats().then(resolve, reject);
        },
      };
      this.waiters.push(w);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new Error('viewer closed while waiting for frames'));
    }
    if (this.sink) {
      this.sink.onframe = null;
      this.sink.stop();
    }
    this.pc.onicecandidate = null;
    this.pc.onconnectionstatechange = null;
    this.pc.ontrack = null;
    this.pc.close();
  }
}
