// The common face of every real peer used in interop tests. Each peer plays a KVS *viewer*:
// it offers (video recvonly with H.264), takes the camera's answer, trickles ICE both ways
// and measures the video it receives.

import type { IceCandidateInit } from '../../ts/native/types.js';
import { H264Depacketizer, type AccessUnit, type RtpPacket } from './h264-depacketizer.js';

export type { IceCandidateInit };

export interface VideoReceiveStats {
  /** Decoded frames (Chromium, wrtc) or complete H.264 access units (node-datachannel, werift). */
  frames: number;
  keyframes: number;
  width?: number;
  height?: number;
  /** Milliseconds from createOffer() to the first frame. */
  firstFrameMs?: number;
  /** Stacks that do not decode: was the first complete access unit an IDR with SPS/PPS before it. */
  firstFrameIsKeyframe?: boolean;
  /** Stacks that do not decode: access units dropped because packets were missing. */
  incomplete?: number;
  /** Codec the viewer reports receiving, e.g. 'video/H264', when the stack tells. */
  codec?: string;
}

export interface ViewerOptions {
  /** Also offer a recvonly audio transceiver, as the KVS browser viewer does. */
  audio?: boolean;
  /** Also offer a data channel (an m=application section). */
  dataChannel?: boolean;
  /** Label used in error messages. */
  name?: string;
}

export interface Viewer {
  readonly kind: 'chromium' | 'wrtc' | 'datachannel' | 'werift';
  createOffer(): Promise<string>;
  setAnswer(sdp: string): Promise<void>;
  /** candidate '' means end-of-candidates. */
  addCandidate(c: IceCandidateInit): Promise<void>;
  /** Local candidates as they are gathered; '' once gathering is complete. */
  onCandidate(cb: (c: IceCandidateInit) => void): void;
  /** Connection state as the stack names it ('connected', 'failed', ...). */
  onState(cb: (state: string) => void): void;
  /** Resolves once n frames were received; rejects with the stats seen so far on timeout. */
  waitForFrames(n: number, timeoutMs: number): Promise<VideoReceiveStats>;
  stats(): Promise<VideoReceiveStats>;
  close(): Promise<void>;
}

/** The part of the engine's PeerConnection that a viewer talks to (ts/native). */
export interface EnginePeer {
  setRemoteOffer(sdp: string): Promise<string>;
  addRemoteCandidate(c: IceCandidateInit): void | Promise<void>;
  on(event: 'candidate', cb: (c: IceCandidateInit) => void): unknown;
  on(event: 'state', cb: (s: string) => void): unknown;
}

export interface Connection {
  offer: string;
  answer: string;
  /** Engine states in the order they were emitted. */
  engineStates: string[];
  viewerStates: string[];
  engineCandidates: IceCandidateInit[];
  viewerCandidates: IceCandidateInit[];
  /** Errors raised while handing candidates over (kept, not thrown: the test decides). */
  candidateErrors: string[];
}

/**
 * Wires a viewer to the engine: offer -> engine, answer -> viewer, candidates both ways.
 * Candidates the viewer gathers before the answer is in are queued and sent afterwards, as a
 * signaling client would. Resolves once the answer is applied; the connection proceeds alone.
 */
export async function connectToEngine(
  viewer: Pick<Viewer, 'createOffer' | 'setAnswer' | 'addCandidate' | 'onCandidate' | 'onState'> & { readonly kind: string },
  pc: EnginePeer,
  opts: { editOffer?: (sdp: string) => string } = {},
): Promise<Connection> {
  const conn: Connection = {
    offer: '',
    answer: '',
    engineStates: [],
    viewerStates: [],
    engineCandidates: [],
    viewerCandidates: [],
    candidateErrors: [],
  };
  let answered = false;
  let remoteApplied = false;
  const early: IceCandidateInit[] = [];
  const engineEarly: IceCandidateInit[] = [];

  const toEngine = (c: IceCandidateInit): void => {
    try {
      const r = pc.addRemoteCandidate(c);
      if (r instanceof Promise) r.catch((e: unknown) => conn.candidateErrors.push(`engine: ${String(e)}`));
    } catch (e) {
      conn.candidateErrors.push(`engine: ${String(e)}`);
    }
  };
  const toViewer = (c: IceCandidateInit): void => {
    viewer.addCandidate(c).catch((e: unknown) => conn.candidateErrors.push(`${viewer.kind}: ${String(e)}`));
  };

  viewer.onState((s) => conn.viewerStates.push(s));
  viewer.onCandidate((c) => {
    conn.viewerCandidates.push(c);
    if (answered) toEngine(c);
    else early.push(c);
  });
  pc.on('state', (s: string) => conn.engineStates.push(s));
  pc.on('candidate', (c: IceCandidateInit) => {
    conn.engineCandidates.push(c);
    if (remoteApplied) toViewer(c);
    else engineEarly.push(c);
  });

  conn.offer = await viewer.createOffer();
  if (opts.editOffer) conn.offer = opts.editOffer(conn.offer);
  conn.answer = await pc.setRemoteOffer(conn.offer);
  // The viewer's candidates reach the engine once the viewer holds the answer, as they would
  // from a viewer that trickles after its description settles. Otherwise the engine's checks
  // (paced at 5 ms) can complete ICE the moment libdatachannel learns the answer's credentials,
  // and its DTLS starts before it has stored the answer's fingerprint (see DataChannelViewer).
  await viewer.setAnswer(conn.answer);
  remoteApplied = true;
  answered = true;
  for (const c of early.splice(0)) toEngine(c);
  for (const c of engineEarly.splice(0)) toViewer(c);
  return conn;
}

/** Payload type of the first H.264 codec with packetization-mode=1 in a video section. */
export function h264PayloadType(sdp: string): number | undefined {
  const lines = sdp.split(/\r?\n/);
  let inVideo = false;
  const h264: number[] = [];
  const mode1 = new Set<number>();
  for (const line of lines) {
    if (line.startsWith('m=')) inVideo = line.startsWith('m=video');
    if (!inVideo) continue;
    const rtpmap = /^a=rtpmap:(\d+) H264\/90000/i.exec(line);
    if (rtpmap) h264.push(Number(rtpmap[1]));
    const fmtp = /^a=fmtp:(\d+) (.*)$/.exec(line);
    if (fmtp && /packetization-mode=1/.test(fmtp[2]!)) mode1.add(Number(fmtp[1]));
  }
  return h264.find((pt) => mode1.has(pt)) ?? h264[0];
}

/**
 * Shared bookkeeping for the viewers that only get RTP: depacketize, count access units,
 * and let waitForFrames() resolve as soon as enough arrived.
 */
export class AccessUnitCounter {
  readonly depacketizer = new H264Depacketizer();
  private frames = 0;
  private keyframes = 0;
  private width?: number;
  private height?: number;
  private firstFrameAt?: number;
  private firstIsKeyframe?: boolean;
  private startedAt = Date.now();
  private waiters: { n: number; resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout }[] = [];

  markOffer(): void {
    this.startedAt = Date.now();
  }

  setPayloadType(pt: number | undefined): void {
    this.depacketizer.setPayloadType(pt);
  }

  pushPacket(pkt: RtpPacket): void {
    for (const au of this.depacketizer.push(pkt)) this.onAccessUnit(au);
  }

  private onAccessUnit(au: AccessUnit): void {
    if (this.frames === 0) {
      this.firstFrameAt = Date.now();
      this.firstIsKeyframe = au.keyframe && au.parameterSetsFirst;
    }
    this.frames++;
    if (au.keyframe) this.keyframes++;
    if (au.width !== undefined) {
      this.width = au.width;
      this.height = au.height;
    }
    const ready = this.waiters.filter((w) => this.frames >= w.n);
    this.waiters = this.waiters.filter((w) => this.frames < w.n);
    for (const w of ready) w.resolve();
  }

  stats(): VideoReceiveStats {
    const s: VideoReceiveStats = {
      frames: this.frames,
      keyframes: this.keyframes,
      incomplete: this.depacketizer.stats.incomplete,
      codec: 'video/H264',
    };
    if (this.width !== undefined) s.width = this.width;
    if (this.height !== undefined) s.height = this.height;
    if (this.firstFrameAt !== undefined) s.firstFrameMs = this.firstFrameAt - this.startedAt;
    if (this.firstIsKeyframe !== undefined) s.firstFrameIsKeyframe = this.firstIsKeyframe;
    return s;
  }

  waitForFrames(n: number, timeoutMs: number, label: string): Promise<VideoReceiveStats> {
    if (this.frames >= n) return Promise.resolve(this.stats());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new FrameTimeoutError(label, n, timeoutMs, this.stats()));
      }, timeoutMs);
      const w = {
        n,
        timer,
        reject,
        resolve: () => {
          clearTimeout(timer);
          resolve(this.stats());
        },
      };
      this.waiters.push(w);
    });
  }

  /** Drops waiters (on close) so no timer keeps the process alive. */
  cancel(): void {
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new Error('viewer closed while waiting for frames'));
    }
  }
}

/**
 * What the viewers that only get RTP (werift, node-datachannel) share of the Viewer face: the
 * candidate and state callbacks, and frames counted by an AccessUnitCounter. `label` names the
 * viewer in a FrameTimeoutError.
 */
export abstract class RtpViewer {
  protected readonly counter = new AccessUnitCounter();
  private readonly candidateCbs: ((c: IceCandidateInit) => void)[] = [];
  private readonly stateCbs: ((s: string) => void)[] = [];

  constructor(private readonly label: string) {}

  protected emitCandidate(c: IceCandidateInit): void {
    for (const cb of this.candidateCbs) cb(c);
  }

  protected emitState(s: string): void {
    for (const cb of this.stateCbs) cb(s);
  }

  onCandidate(cb: (c: IceCandidateInit) => void): void {
    this.candidateCbs.push(cb);
  }

  onState(cb: (s: string) => void): void {
    this.stateCbs.push(cb);
  }

  waitForFrames(n: number, timeoutMs: number): Promise<VideoReceiveStats> {
    return this.counter.waitForFrames(n, timeoutMs, this.label);
  }

  async stats(): Promise<VideoReceiveStats> {
    return this.counter.stats();
  }

  /** Depacketizer counters, for diagnosing a failure. */
  rtpStats(): AccessUnitCounter['depacketizer']['stats'] {
    return this.counter.depacketizer.stats;
  }
}

export class FrameTimeoutError extends Error {
  constructor(
    label: string,
    n: number,
    timeoutMs: number,
    readonly stats: VideoReceiveStats,
  ) {
    super(`${label}: ${n} frames not received within ${timeoutMs} ms; saw ${JSON.stringify(stats)}`);
    this.name = 'FrameTimeoutError';
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
