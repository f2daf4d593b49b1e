// A camera stand-in built on libdatachannel (node-datachannel) that answers a viewer's offer and
// sends a recorded H.264 stream with libdatachannel's own RFC 6184 packetizer. It speaks the
// same surface as the engine's PeerConnection (EnginePeer), so the viewer modules can be
// checked against a sender no one here wrote, independently of the engine under test.

import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import nodeDataChannel from 'node-datachannel';
import type { PeerConnection as NdcPeerConnection, Track, RtpPacketizationConfig as NdcRtpConfig } from 'node-datachannel';
import type { EnginePeer, IceCandidateInit } from './viewer.js';

const { PeerConnection, Video, H264RtpPacketizer, RtpPacketizationConfig, RtcpSrReporter, RtcpNackResponder } = nodeDataChannel;

export const FIXTURE_640x480 = new URL('./fixtures/pattern-640x480.h264', import.meta.url);

/** Splits an Annex-B byte stream into access units (each starting at an SPS or a slice). */
export function annexBAccessUnits(stream: Buffer): Buffer[] {
  const starts: number[] = [];
  for (let i = 0; i + 3 <= stream.length; i++) {
    if (stream[i] === 0 && stream[i + 1] === 0 && stream[i + 2] === 1) {
      starts.push(i);
      i += 2;
    }
  }
  const nals = starts.map((s, k) => {
    const end = k + 1 < starts.length ? starts[k + 1]! : stream.length;
    let e = end;
    while (e > s && stream[e - 1] === 0 && k + 1 < starts.length) e--; // 4-byte start code's zero
    return stream.subarray(s + 3, e);
  });
  const aus: Buffer[][] = [];
  let cur: Buffer[] = [];
  for (const nal of nals) {
    const type = nal[0]! & 0x1f;
    const firstMb = type === 1 || type === 5 ? (nal[1]! & 0x80) !== 0 : false; // first_mb_in_slice == 0
    if ((type === 7 || type === 9 || firstMb) && cur.some((n) => [1, 5].includes(n[0]! & 0x1f))) {
      aus.push(cur);
      cur = [];
    }
    cur.push(nal);
  }
  if (cur.length) aus.push(cur);
  const startCode = Buffer.from([0, 0, 0, 1]);
  return aus.map((au) => Buffer.concat(au.flatMap((n) => [startCode, n])));
}

interface SenderEvents {
  candidate: [IceCandidateInit];
  state: [string];
}

export interface ReferenceSenderOptions {
  fps?: number;
  file?: URL | string;
}

export class ReferenceSender extends EventEmitter<SenderEvents> implements EnginePeer {
  private readonly pc: NdcPeerConnection;
  private readonly frames: Buffer[];
  private readonly fps: number;
  private track?: Track;
  private rtpConfig?: NdcRtpConfig;
  private timer?: NodeJS.Timeout;
  private index = 0;
  private closed = false;
  framesSent = 0;

  constructor(opts: ReferenceSenderOptions = {}) {
    super();
    this.fps = opts.fps ?? 30;
    this.frames = annexBAccessUnits(readFileSync(opts.file ?? FIXTURE_640x480));
    this.pc = new PeerConnection('reference-sender', { iceServers: [] });
    this.pc.onLocalCandidate((candidate, mid) =>
      this.emit('candidate', { candidate: candidate.replace(/^a=/, ''), sdpMid: mid, sdpMLineIndex: 0 }),
    );
    this.pc.onGatheringStateChange((s) => {
      if (s === 'complete') this.emit('candidate', { candidate: '', sdpMid: null, sdpMLineIndex: null });
    });
    this.pc.onStateChange((s) => {
      this.emit('state', s);
      if (s === 'connected') this.start();
    });
  }

  async setRemoteOffer(offer: string): Promise<string> {
    const video = videoSection(offer);
    if (!video) throw new Error('offer has no H.264 video section with packetization-mode=1');
    const media = new Video(video.mid, 'SendOnly');
    media.addH264Codec(video.pt, video.fmtp);
    const ssrc = 0x1000 + Math.floor(Math.random() * 0xffff);
    media.addSSRC(ssrc, 'reference', 'reference-stream', 'reference-video');
    this.track = this.pc.addTrack(media);
    this.rtpConfig = new RtpPacketizationConfig(ssrc, 'reference', video.pt, 90000);
    const packetizer = new H264RtpPacketizer('LongStartSequence', this.rtpConfig, 1200);
    packetizer.addToChain(new RtcpSrReporter(this.rtpConfig));
    packetizer.addToChain(new RtcpNackResponder());
    this.track.setMediaHandler(packetizer);
    const answer = new Promise<string>((resolve) => this.pc.onLocalDescription((sdp) => resolve(sdp)));
    this.pc.setRemoteDescription(offer, 'offer');
    return this.pc.localDescription()?.sdp ?? (await answer);
  }

  addRemoteCandidate(c: IceCandidateInit): void {
    if (c.candidate === '' || this.closed) return;
    this.pc.addRemoteCandidate(c.candidate, c.sdpMid ?? '0');
  }

  private start(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => this.sendNext(), 1000 / this.fps);
  }

  private sendNext(): void {
    if (!this.track || !this.rtpConfig || !this.track.isOpen()) return;
    const frame = this.frames[this.index % this.frames.length]!;
    this.rtpConfig.timestamp = (this.index * 90000) / this.fps;
    this.index++;
    if (this.track.sendMessageBinary(frame)) this.framesSent++;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.pc.close();
  }
}

export function videoSection(sdp: string): { mid: string; pt: number; fmtp: string } | null {
  const sections = sdp.split(/\r?\nm=/).slice(1);
  for (const s of sections) {
    if (!s.startsWith('video')) continue;
    const mid = /\r?\na=mid:(\S+)/.exec(s)?.[1] ?? '0';
    const rtpmaps = [...s.matchAll(/a=rtpmap:(\d+) H264\/90000/gi)].map((m) => Number(m[1]));
    for (const pt of rtpmaps) {
      const fmtp = new RegExp(`a=fmtp:${pt} (.*)`).exec(s)?.[1]?.trim() ?? '';
      if (/packetization-mode=1/.test(fmtp) && /profile-level-id=42[ec]0/i.test(fmtp)) return { mid, pt, fmtp };
    }
    for (const pt of rtpmaps) {
      const fmtp = new RegExp(`a=fmtp:${pt} (.*)`).exec(s)?.[1]?.trim() ?? '';
      if (/packetization-mode=1/.test(fmtp)) return { mid, pt, fmtp };
    }
  }
  return null;
}
