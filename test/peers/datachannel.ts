// node-datachannel (libdatachannel) as a KVS viewer. libdatachannel does not decode: the
// track hands up SRTP-decrypted RTP (RtcpReceivingSession answers RTCP and keeps it out of
// onMessage), and test/peers/h264-depacketizer.ts reassembles H.264 access units.

import nodeDataChannel from 'node-datachannel';
import type { DataChannel, PeerConnection as NdcPeerConnection, Track } from 'node-datachannel';
import { RtpViewer, h264PayloadType, type IceCandidateInit, type Viewer, type ViewerOptions } from './viewer.js';
import { parseRtp } from './h264-depacketizer.js';

const { PeerConnection, Video, Audio, RtcpReceivingSession } = nodeDataChannel;

let seq = 0;

/** An SDP without its a=candidate lines, and those candidates with the mid of their section. */
function splitCandidates(sdp: string): { rest: string; candidates: { candidate: string; mid: string }[] } {
  const candidates: { candidate: string; mid: string }[] = [];
  let mid = '0';
  const kept = sdp.split(/\r?\n/).filter((line) => {
    const m = /^a=mid:(.*)$/.exec(line);
    if (m) mid = m[1]!;
    if (!line.startsWith('a=candidate:')) return true;
    candidates.push({ candidate: line.slice(2), mid });
    return false;
  });
  return { rest: kept.join('\r\n'), candidates };
}

export class DataChannelViewer extends RtpViewer implements Viewer {
  readonly kind = 'datachannel' as const;
  private readonly pc: NdcPeerConnection;
  private videoTrack?: Track;
  private audioTrack?: Track;
  private dc?: DataChannel;
  private closed = false;
  private localDescription?: Promise<string>;
  private offerCandidatesSent: Promise<void> = Promise.resolve();
  private markOfferCandidatesSent = (): void => {};
  /** RTP-looking packets that were not H.264 of the negotiated type (for diagnosis). */
  nonMediaMessages = 0;

  constructor(private readonly opts: ViewerOptions = {}) {
    super(opts.name ?? 'node-datachannel viewer');
    this.pc = new PeerConnection(`viewer-${++seq}`, { iceServers: [], disableAutoNegotiation: true });
    this.pc.onLocalCandidate((candidate, mid) => {
      const init: IceCandidateInit = { candidate: candidate.replace(/^a=/, ''), sdpMid: mid, sdpMLineIndex: this.mLineIndexOf(mid) };
      this.emitCandidate(init);
    });
    this.pc.onGatheringStateChange((s) => {
      // After the offer's own candidates, which createOffer sends as trickled ones.
      if (s === 'complete') void this.offerCandidatesSent.then(() => this.emitCandidate({ candidate: '', sdpMid: null, sdpMLineIndex: null }));
    });
    this.pc.onStateChange((s) => this.emitState(s));
  }

  private mLineIndexOf(mid: string): number | null {
    const sdp = this.pc.localDescription()?.sdp ?? '';
    let index = -1;
    for (const line of sdp.split(/\r?\n/)) {
      if (line.startsWith('m=')) index++;
      if (line === `a=mid:${mid}`) return index;
    }
    return null;
  }

  async createOffer(): Promise<string> {
    this.counter.markOffer();
    const video = new Video('0', 'RecvOnly');
    // libdatachannel's default H.264 fmtp: constrained baseline 3.1, packetization-mode=1.
    video.addH264Codec(96);
    video.addH264Codec(98, 'profile-level-id=42001f;packetization-mode=1;level-asymmetry-allowed=1');
    this.videoTrack = this.pc.addTrack(video);
    this.videoTrack.setMediaHandler(new RtcpReceivingSession());
    this.videoTrack.onMessage((msg) => {
      const pkt = parseRtp(Buffer.isBuffer(msg) ? msg : Buffer.from(msg));
      if (!pkt) {
        this.nonMediaMessages++;
        return;
      }
      this.counter.pushPacket(pkt);
    });
    if (this.opts.audio) {
      const audio = new Audio('1', 'RecvOnly');
      audio.addOpusCodec(111);
      this.audioTrack = this.pc.addTrack(audio);
    }
    if (this.opts.dataChannel) this.dc = this.pc.createDataChannel('kvsDataChannel');
    this.localDescription = new Promise((resolve) => {
      this.pc.onLocalDescription((sdp) => resolve(sdp));
    });
    this.offerCandidatesSent = new Promise((resolve) => (this.markOfferCandidatesSent = resolve));
    this.pc.setLocalDescription('offer');
    const local = this.pc.localDescription();
    const sdp = local ? local.sdp : await this.localDescription;
    // libjuice gathers host candidates at once, so they sit in the offer. Sent as trickled ones
    // instead, so that connectToEngine hands them to the engine only after this viewer holds the
    // answer (see setAnswer for the race this avoids).
    const { rest, candidates } = splitCandidates(sdp);
    setImmediate(() => {
      for (const c of candidates) this.emitCandidate({ candidate: c.candidate, sdpMid: c.mid, sdpMLineIndex: this.mLineIndexOf(c.mid) });
      this.markOfferCandidatesSent();
    });
    return rest;
  }

  async setAnswer(sdp: string): Promise<void> {
    this.counter.setPayloadType(h264PayloadType(sdp));
    // The answer's candidates are added after the description, as if trickled. Given inside the
    // answer, libdatachannel can connect ICE and start DTLS while it is still inside
    // setRemoteDescription, before it has stored the answer's fingerprint: it then refuses the
    // engine's certificate ("unknown ca") and tears down ICE ("Got a remote candidate without ICE
    // transport"). A race inside that peer (seen on Node 24 with the engine's 5 ms check pacing).
    const { rest, candidates } = splitCandidates(sdp);
    this.pc.setRemoteDescription(rest, 'answer');
    for (const c of candidates) this.pc.addRemoteCandidate(c.candidate, c.mid);
  }

  async addCandidate(c: IceCandidateInit): Promise<void> {
    if (c.candidate === '') return;
    const mid = c.sdpMid ?? this.midAt(c.sdpMLineIndex ?? 0);
    this.pc.addRemoteCandidate(c.candidate, mid);
  }

  private midAt(index: number): string {
    const sdp = this.pc.localDescription()?.sdp ?? '';
    let i = -1;
    for (const line of sdp.split(/\r?\n/)) {
      if (line.startsWith('m=')) i++;
      const m = /^a=mid:(.*)$/.exec(line);
      if (m && i === index) return m[1]!;
    }
    return '0';
  }

  /** Sends a PLI (RFC 4585 6.3.1) to the sender, as a decoder that lost its reference would. */
  requestKeyframe(): boolean {
    return this.videoTrack?.requestKeyframe() ?? false;
  }

  /** Sends a REMB asking the sender for at most this many bits per second. */
  requestBitrate(bps: number): boolean {
    return this.videoTrack?.requestBitrate(bps) ?? false;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.counter.cancel();
    // Closing the peer connection closes its tracks and channels; closing those first as
    // well made node-datachannel's cleanup() crash later in the process.
    this.pc.close();
  }
}
