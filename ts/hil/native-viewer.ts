// One KVS viewer made of the native engine (viewer role: our offer, H.264 + Opus receive, frames
// counted in C++), connected through the channel's signaling. Used by `kvs-edge view` and by the
// HIL scenario, which runs several at once against one camera.
import { ControlPlane, createChannelSignaling, type CredentialsProvider, type SignalingClient } from '../kvs/index.js';
import { PeerConnection, type PeerState, type PeerStats } from '../native/index.js';

export interface NativeViewerOptions {
  channel: string;
  region: string;
  credentials: CredentialsProvider;
  clientId: string;
  /** Control-plane endpoint (the local service's, or a custom one); default AWS's. */
  endpoint?: string;
  /** How long to wait for the camera's answer (default 15 s). */
  answerTimeoutMs?: number;
}

/** What a viewer measured over a window of time. */
export interface ViewWindow {
  seconds: number;
  frames: number;
  keyframes: number;
  fps: number;
  bitrateKbps: number;
  /** Video packets lost in the window, percent of those expected. */
  lossPercent: number;
}

export class NativeViewer {
  readonly clientId: string;
  /** Milliseconds from our offer to the camera's answer; undefined when none came. */
  answerMs: number | undefined;
  readonly #pc: PeerConnection;
  readonly #sc: SignalingClient;
  readonly #cp: ControlPlane;
  #closed = false;

  private constructor(clientId: string, pc: PeerConnection, sc: SignalingClient, cp: ControlPlane) {
    this.clientId = clientId;
    this.#pc = pc;
    this.#sc = sc;
    this.#cp = cp;
  }

  /**
   * Opens signaling, sends our offer and applies the answer. Resolves once the answer is applied
   * (media may still be connecting) or the answer timed out (answerMs undefined). Rejects only
   * when signaling cannot be opened or the answer is unusable.
   */
  static async connect(o: NativeViewerOptions): Promise<NativeViewer> {
    const cp = new ControlPlane({ region: o.region, channelName: o.channel, credentials: o.credentials, ...(o.endpoint ? { endpoint: o.endpoint } : {}) });
    const iceServers = await cp.getIceServers('VIEWER', o.clientId).catch(() => []);
    const sc = await createChannelSignaling({ controlPlane: cp, credentials: o.credentials, role: 'VIEWER', clientId: o.clientId });
    sc.on('error', () => undefined);
    const pc = new PeerConnection({ id: o.clientId, iceServers: iceServers.map((s) => ({ urls: s.urls, ...(s.username ? { username: s.username, credential: s.credential } : {}) })) });
    const v = new NativeViewer(o.clientId, pc, sc, cp);
    try {
      await v.#negotiate(o.answerTimeoutMs ?? 15_000);
    } catch (err) {
      v.close();
      throw err;
    }
    return v;
  }

  async #negotiate(answerTimeoutMs: number): Promise<void> {
    const pc = this.#pc;
    const sc = this.#sc;
    let answered = false;
    const early: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null }[] = [];
    await sc.open();
    pc.on('candidate', (c) => { try { sc.sendIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null }); } catch { /* signaling down */ } });
    sc.on('iceCandidate', (c) => {
      if (!answered) { early.push(c); return; }
      try { pc.addRemoteCandidate(c); } catch { /* a candidate we cannot use */ }
    });
    const answer = new Promise<string>((resolve) => sc.on('sdpAnswer', (a) => resolve(a.sdp)));
    const t0 = performance.now();
    const offer = await pc.createOffer({ video: true, audio: 'recvonly' });
    sc.sendSdpOffer({ type: 'offer', sdp: offer });
    let timer: NodeJS.Timeout | undefined;
    const sdp = await Promise.race([answer, new Promise<null>((r) => { timer = setTimeout(() => r(null), answerTimeoutMs); })]);
    clearTimeout(timer);
    if (sdp === null) return;
    this.answerMs = performance.now() - t0;
    await pc.setRemoteAnswer(sdp);
    answered = true;
    for (const c of early.splice(0)) { try { pc.addRemoteCandidate(c); } catch { /* ignored */ } }
  }

  get state(): PeerState {
    return this.#pc.state;
  }

  stats(): Promise<PeerStats> {
    return this.#pc.getStats();
  }

  /** Resolves true when `pred` holds for the stats, polling every pollMs, or false after timeoutMs. */
  async until(pred: (s: PeerStats) => boolean, timeoutMs: number, pollMs = 20): Promise<boolean> {
    for (const end = performance.now() + timeoutMs; ;) {
      if (this.#closed) return false;
      if (pred(await this.stats())) return true;
      if (performance.now() > end) return false;
      await sleep(pollMs);
    }
  }

  /** Measures frames, bitrate and loss over the next `seconds`. */
  async measure(seconds: number): Promise<ViewWindow> {
    const a = await this.stats();
    const t0 = performance.now();
    await sleep(seconds * 1000);
    const b = await this.stats();
    return windowBetween(a, b, (performance.now() - t0) / 1000);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pc.close();
    this.#sc.close();
    this.#cp.close();
  }
}

export function windowBetween(a: PeerStats, b: PeerStats, seconds: number): ViewWindow {
  const frames = b.framesReceived - a.framesReceived;
  const received = b.videoPacketsReceived - a.videoPacketsReceived;
  const lost = Math.max(0, b.videoPacketsLost - a.videoPacketsLost);
  return {
    seconds: round(seconds, 2),
    frames,
    keyframes: b.keyframesReceived - a.keyframesReceived,
    fps: round(frames / seconds, 1),
    bitrateKbps: Math.round(((b.videoBytesReceived - a.videoBytesReceived) * 8) / seconds / 1000),
    lossPercent: received + lost > 0 ? round((100 * lost) / (received + lost), 2) : 0,
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
