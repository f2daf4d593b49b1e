// werift (pure TypeScript WebRTC) as a KVS viewer. werift does not decode video, so received
// RTP is reassembled into H.264 access units by test/peers/h264-depacketizer.ts.

import { RTCPeerConnection, useH264, useOPUS, usePCMU, type RtpPacket as WeriftRtp } from 'werift';
import type { RtpPacket } from './h264-depacketizer.js';
import { RtpViewer, h264PayloadType, type IceCandidateInit, type Viewer, type ViewerOptions } from './viewer.js';

/** werift's RTP packet in the form of test/peers' depacketizer. */
export function fromWeriftRtp(rtp: WeriftRtp): RtpPacket {
  return {
    payloadType: rtp.header.payloadType,
    sequenceNumber: rtp.header.sequenceNumber,
    timestamp: rtp.header.timestamp,
    marker: rtp.header.marker,
    ssrc: rtp.header.ssrc,
    payload: rtp.payload,
  };
}

export interface WeriftViewerOptions extends ViewerOptions {
  /** Also gather a host candidate on 127.0.0.1 (werift skips loopback by default). Default true. */
  loopback?: boolean;
}

export class WeriftViewer extends RtpViewer implements Viewer {
  readonly kind = 'werift' as const;
  private readonly pc: RTCPeerConnection;
  private closed = false;
  /** Every transport gathered for the offer (see close()). */
  private offerTransports: { stop(): Promise<void> }[] = [];

  constructor(private readonly opts: WeriftViewerOptions = {}) {
    super(opts.name ?? 'werift viewer');
    this.pc = new RTCPeerConnection({
      // What a werift app that wants the camera's H.264 configures; VP8 stays offered too.
      codecs: {
        video: [
          useH264(),
          useH264({ parameters: 'profile-level-id=42001f;packetization-mode=1;level-asymmetry-allowed=1' }),
        ],
        audio: [useOPUS(), usePCMU()],
      },
      iceAdditionalHostAddresses: opts.loopback === false ? undefined : ['127.0.0.1'],
    });
    this.pc.onIceCandidate.subscribe((c) => {
      const init: IceCandidateInit = c
        ? { candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null }
        : { candidate: '', sdpMid: null, sdpMLineIndex: null };
      this.emitCandidate(init);
    });
    this.pc.connectionStateChange.subscribe((s) => this.emitState(s));
    this.pc.onTrack.subscribe((track) => {
      if (track.kind !== 'video') return;
      track.onReceiveRtp.subscribe((rtp: WeriftRtp) => {
        this.counter.pushPacket(fromWeriftRtp(rtp));
      });
    });
  }

  async createOffer(): Promise<string> {
    this.counter.markOffer();
    this.pc.addTransceiver('video', { direction: 'recvonly' });
    if (this.opts.audio) this.pc.addTransceiver('audio', { direction: 'recvonly' });
    if (this.opts.dataChannel) this.pc.createDataChannel('kvsDataChannel');
    const offer = await this.pc.createOffer();
    await this.pc.setLocalDescription(offer);
    this.offerTransports = this.pc.getTransceivers().map((tr) => tr.dtlsTransport);
    return this.pc.localDescription?.sdp ?? offer.sdp;
  }

  async setAnswer(sdp: string): Promise<void> {
    // Follow the payload type the answer chose; RTX and others are ignored.
    this.counter.setPayloadType(h264PayloadType(sdp));
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
  }

  async addCandidate(c: IceCandidateInit): Promise<void> {
    if (c.candidate === '') return; // werift needs no end-of-candidates signal
    await this.pc.addIceCandidate({
      candidate: c.candidate,
      sdpMid: c.sdpMid ?? undefined,
      sdpMLineIndex: c.sdpMLineIndex ?? undefined,
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.counter.cancel();
    await this.pc.close();
    // werift 0.25 gathers one transport per m-line for the offer and, when the answer bundles
    // them, never stops the ones it dropped: their UDP sockets would keep the process alive.
    await Promise.allSettled(this.offerTransports.map((d) => d.stop()));
  }
}
