// kvs-edge as the sender of the peer benchmark, in its own process: one VideoTrack shared by one
// PeerConnection per viewer. Its source is either
//   encode: the same raw pictures as the GStreamer "encode" sender (videotestsrc's moving SMPTE
//           pattern, 720p30 I420, live) read from gst-launch-1.0's stdout by kvs-edge's raw 'pipe'
//           source and encoded by openh264 at 2 Mbps with a quantiser floor of 32 like
//           gst_sender.py's openh264enc qp-min=32; gst-launch-1.0 is this process's child, so
//           the benchmark counts its CPU and memory as the sender's;
//   file:   the benchmark's H.264 file passed through, looped and paced.
// Signaling: bench/peers/signaling.ts.
//   node --import tsx bench/peers/kvs-edge-sender.ts encode
//   node --import tsx bench/peers/kvs-edge-sender.ts file PATH
import { PeerConnection, VideoTrack } from '../../ts/native/index.js';
import { CONTENT, gstRawPatternCommand } from './media.js';
import { emit, serveSignaling } from './signaling.js';

const [source, path] = process.argv.slice(2);
if (source !== 'encode' && source !== 'file') throw new Error(`kvs-edge-sender: source must be "encode" or "file", not ${String(source)}`);
if (source === 'file' && !path) throw new Error('kvs-edge-sender: "file" needs a path');

const track = new VideoTrack({
  width: CONTENT.width,
  height: CONTENT.height,
  fps: CONTENT.fps,
  bitrateKbps: CONTENT.bitrateKbps,
  keyframeInterval: CONTENT.gop,
  ...(source === 'file' ? { source: 'file', path, loop: true } : { source: 'pipe', command: gstRawPatternCommand(), pipeFormat: 'i420', encoder: 'openh264', qpMin: 32 }),
});
const peers = new Map<string, PeerConnection>();

serveSignaling({
  async offer(id, sdp) {
    const pc = new PeerConnection({ id });
    peers.set(id, pc);
    pc.on('candidate', (c) => emit({ type: 'candidate', id, ...c }));
    pc.on('error', (e) => emit({ type: 'error', id, message: e.message }));
    pc.addTrack(track);
    return pc.setRemoteOffer(sdp);
  },
  candidate(id, c) {
    try {
      peers.get(id)?.addRemoteCandidate(c);
    } catch { /* a late or unusable candidate: ICE goes on with the others */ }
  },
  close(id) {
    peers.get(id)?.close();
    peers.delete(id);
  },
  quit() {
    for (const pc of peers.values()) pc.close();
    track.close();
    process.exit(0);
  },
});
emit({ type: 'ready' });
