// node-datachannel (libdatachannel) as the sender of the peer benchmark, in its own process: the
// benchmark's H.264 access units paced at 30 fps (looping), sent on one track per viewer with
// libdatachannel's own RTP packetizer, SR reporter and NACK responder. A viewer that joins gets
// the running stream and starts at the next IDR.
//   node --import tsx bench/peers/ndc-sender.ts PATH
import nodeDataChannel from 'node-datachannel';
import type { PeerConnection as NdcPeerConnection, RtpPacketizationConfig as NdcRtpConfig, Track } from 'node-datachannel';
import { videoSection } from '../../test/peers/reference-sender.js';
import { CONTENT, loadAccessUnits, paceAccessUnits } from './media.js';
import { emit, serveSignaling } from './signaling.js';

const { PeerConnection, Video, H264RtpPacketizer, RtpPacketizationConfig, RtcpSrReporter, RtcpNackResponder } = nodeDataChannel;
const path = process.argv[2];
if (!path) throw new Error('ndc-sender: needs the H.264 file path');
const aus = loadAccessUnits(path);

interface Peer { pc: NdcPeerConnection; track?: Track; config?: NdcRtpConfig; open: boolean }
const peers = new Map<string, Peer>();

const stop = paceAccessUnits(aus, CONTENT.fps, (au, n) => {
  for (const p of peers.values()) {
    if (!p.open || !p.track || !p.config) continue;
    p.config.timestamp = Math.round((n * 90000) / CONTENT.fps) % 2 ** 32;
    try {
      p.track.sendMessageBinary(au.data);
    } catch { /* closing */ }
  }
});

serveSignaling({
  async offer(id, sdp) {
    const video = videoSection(sdp);
    if (!video) throw new Error('offer has no H.264 video section with packetization-mode=1');
    const pc = new PeerConnection(id, { iceServers: [] });
    const peer: Peer = { pc, open: false };
    peers.set(id, peer);
    pc.onLocalCandidate((candidate, mid) => emit({ type: 'candidate', id, candidate: candidate.replace(/^a=/, ''), sdpMid: mid, sdpMLineIndex: 0 }));
    pc.onGatheringStateChange((s) => { if (s === 'complete') emit({ type: 'candidate', id, candidate: '', sdpMid: null, sdpMLineIndex: null }); });
    const media = new Video(video.mid, 'SendOnly');
    media.addH264Codec(video.pt, video.fmtp);
    const ssrc = 0x1000 + Math.floor(Math.random() * 0xffff);
    media.addSSRC(ssrc, 'bench', 'bench-stream', 'bench-video');
    const track = pc.addTrack(media);
    const config = new RtpPacketizationConfig(ssrc, 'bench', video.pt, 90000);
    const packetizer = new H264RtpPacketizer('LongStartSequence', config, 1200);
    packetizer.addToChain(new RtcpSrReporter(config));
    packetizer.addToChain(new RtcpNackResponder());
    track.setMediaHandler(packetizer);
    track.onOpen(() => { peer.open = true; });
    track.onClosed(() => { peer.open = false; });
    peer.track = track;
    peer.config = config;
    const answer = new Promise<string>((resolve) => pc.onLocalDescription((s) => resolve(s)));
    pc.setRemoteDescription(sdp, 'offer');
    return pc.localDescription()?.sdp ?? (await answer);
  },
  candidate(id, c) {
    const p = peers.get(id);
    if (!p || c.candidate === '') return;
    try {
      p.pc.addRemoteCandidate(c.candidate, c.sdpMid ?? '0');
    } catch { /* unusable candidate */ }
  },
  close(id) {
    const p = peers.get(id);
    peers.delete(id);
    p?.pc.close();
  },
  quit() {
    stop();
    for (const p of peers.values()) p.pc.close();
    nodeDataChannel.cleanup();
    process.exit(0);
  },
});
emit({ type: 'ready' });
