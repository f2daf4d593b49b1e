// werift as the sender of the peer benchmark, in its own process: the benchmark's H.264 access
// units paced at 30 fps (looping), packetized once by werift's H264Packetizer and written to one
// MediaStreamTrack that every viewer's RTCRtpSender sends (werift's own fan-out). A viewer that
// joins gets the running stream and starts at the next IDR.
//   node --import tsx bench/peers/werift-sender.ts PATH
import { H264Packetizer, MediaStreamTrack, RTCPeerConnection, useH264 } from 'werift';
import { CONTENT, loadAccessUnits, paceAccessUnits } from './media.js';
import { emit, serveSignaling } from './signaling.js';

const path = process.argv[2];
if (!path) throw new Error('werift-sender: needs the H.264 file path');
const aus = loadAccessUnits(path);
const track = new MediaStreamTrack({ kind: 'video' });
const packetizer = new H264Packetizer({ maxPayloadSize: 1200, payloadType: 102, ssrc: 0x2000 });
const peers = new Map<string, RTCPeerConnection>();

const stop = paceAccessUnits(aus, CONTENT.fps, (au, n) => {
  if (peers.size === 0) return;
  for (const rtp of packetizer.packetize(au.data, Math.round((n * 90000) / CONTENT.fps) % 2 ** 32)) track.writeRtp(rtp);
});

serveSignaling({
  async offer(id, sdp) {
    const pc = new RTCPeerConnection({ codecs: { video: [useH264()] }, iceServers: [] });
    peers.set(id, pc);
    pc.onIceCandidate.subscribe((c) => {
      emit(c
        ? { type: 'candidate', id, candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? 0 }
        : { type: 'candidate', id, candidate: '', sdpMid: null, sdpMLineIndex: null });
    });
    await pc.setRemoteDescription({ type: 'offer', sdp });
    const transceiver = pc.getTransceivers().find((t) => t.kind === 'video');
    if (!transceiver) throw new Error('offer has no video section');
    transceiver.setDirection('sendonly');
    await transceiver.sender.replaceTrack(track);
    await pc.setLocalDescription(await pc.createAnswer());
    return pc.localDescription?.sdp ?? '';
  },
  candidate(id, c) {
    if (c.candidate === '') return;
    peers.get(id)?.addIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid ?? '0', sdpMLineIndex: c.sdpMLineIndex ?? 0 }).catch(() => undefined);
  },
  close(id) {
    const pc = peers.get(id);
    peers.delete(id);
    void pc?.close();
  },
  quit() {
    stop();
    for (const pc of peers.values()) void pc.close();
    process.exit(0);
  },
});
emit({ type: 'ready' });
