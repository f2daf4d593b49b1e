// node-datachannel (libdatachannel) as a KVS viewer. libdatachannel does not decode: the
// track hands up SRTP-decrypted RTP (RtcpReceivingSession answers RTCP and keeps it out of
// onMessage), and test/peers/h264-depacketizer.ts reassembles H.264 access units.

import nodeDataChannel from 'node-datachannel';
import type { DataChannel, PeerConnection as NdcPeerConnection, Track } from 'node-datachannel';
import { RtpViewer, h264PayloadType, type IceCandidateInit, type Viewer, type ViewerOptions } from './viewer.js';
import { parseRtp } from './h264-depacketizer.js';

const { PeerConnection, Video, Audio, RtcpReceivingSession } = nodeDataChannel;

let seq = 0;

export class DataChannelViewer extends RtpViewer implements Viewer {
  readonly kind = 'datachannel' as const;
  private readonly pc: NdcPeerConnection;
  private videoTrack?: Track;
  private audioTrack?: Track;
  private dc?: DataChannel;
  private closed = false;
  private localDescription?: Promise<string>;
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
      if (s === 'complete') this.emitCandidate({ candidate: '', sdpMid: null, sdpMLineIndex: null });
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
    this.pc.setLocalDescription('offer');
    const local = this.pc.localDescription();
    return local ? local.sdp : await this.localDescription;
  }

  async setAnswer(sdp: string): Promise<void> {
    this.counter.setPayloadType(h264PayloadType(sdp));
    this.pc.setRemoteDescription(sdp, 'answer');
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
