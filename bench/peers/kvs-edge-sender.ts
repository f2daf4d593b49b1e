// kvs-edge as the sender of the peer benchmark, in its own process: one VideoTrack (the test
// pattern encoded by openh264 at 2 Mbps, or the benchmark's H.264 file passed through, looped and
// paced) shared by one PeerConnection per viewer. Signaling: bench/peers/signaling.ts.
//   node --import tsx bench/peers/kvs-edge-sender.ts pattern
//   node --import tsx bench/peers/kvs-edge-sender.ts file PATH
import { PeerConnection, VideoTrack } from '../../ts/native/index.js';
import { CONTENT } from './media.js';
import { emit, serveSignaling } from './signaling.js';

const [source, path] = process.argv.slice(2);
if (source !== 'pattern' && source !== 'file') throw new Error(`kvs-edge-sender: source must be "pattern" or "file", not ${String(source)}`);
if (source === 'file' && !path) throw new Error('kvs-edge-sender: "file" needs a path');

const track = new VideoTrack({
  source,
  width: CONTENT.width,
  height: CONTENT.height,
  fps: CONTENT.fps,
  bitrateKbps: CONTENT.bitrateKbps,
  keyframeInterval: CONTENT.gop,
  ...(source === 'file' ? { path, loop: true } : {}),
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
