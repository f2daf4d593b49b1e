// The batched send path (docs/send-path.md) as viewers see it: on a host UDP pair a frame's
// packets leave in batched system calls and a node-datachannel viewer decodes every frame; a
// pair through a TURN relay keeps libnice's per-packet send and the picture still arrives.
import nodeDataChannel from 'node-datachannel';
import t from 'tap';
import { PeerConnection, VideoTrack } from '../../ts/native/index.js';
import { CoturnServer } from '../../ts/local/CoturnServer.js';
import { DataChannelViewer } from '../peers/datachannel.js';
import { connectToEngine } from '../peers/viewer.js';
import { connectEngineViewer } from './engine-pair.js';

// 640x480 H.264, an IDR every 30 frames: keyframes span many packets, P-frames a few.
const fixture = new URL('../peers/fixtures/pattern-640x480.h264', import.meta.url).pathname;
t.teardown(async () => {
  await new Promise((r) => setTimeout(r, 300));
  nodeDataChannel.cleanup();
});

t.test('host pair: the frames leave in batches and the viewer decodes them all', async (t) => {
  const track = new VideoTrack({ source: 'file', path: fixture, width: 640, height: 480, fps: 30 });
  const pc = new PeerConnection({ localAddresses: ['127.0.0.1'] });
  pc.addTrack(track);
  const viewer = new DataChannelViewer();
  t.teardown(async () => { pc.close(); await viewer.close(); track.close(); });
  await connectToEngine(viewer, pc);
  const seen = await viewer.waitForFrames(90, 30000);
  t.ok(seen.frames >= 90, `${seen.frames} complete access units decoded by node-datachannel`);
  t.equal(seen.firstFrameIsKeyframe, true, 'the first one is a keyframe');
  const s = await pc.getStats();
  t.equal(s.selectedPair?.localType, 'host', 'a host pair');
  t.ok(s.packetsSentBatched > 0, `${s.packetsSentBatched} packets left through batched sends`);
  // Retransmissions go one by one; every first transmission went in a batch.
  t.equal(s.packetsSentBatched, s.packetsSent - s.retransmitted, `all ${s.packetsSent - s.retransmitted} first transmissions were batched`);
  t.ok(s.sendBatches > 0 && s.sendBatches < s.packetsSentBatched, `fewer system calls (${s.sendBatches}) than packets (${s.packetsSentBatched})`);
  t.ok(s.sendBatches <= s.framesSent, `at most one system call per frame (${s.sendBatches} calls, ${s.framesSent} frames)`);
  t.equal(s.sendErrors, 0, 'no send errors');
});

t.test('TURN-relayed pair: libnice sends each packet, the picture arrives', { skip: CoturnServer.available() ? false : 'coturn (turnserver) is not installed' }, async (t) => {
  const turn = new CoturnServer({ host: '127.0.0.1' });
  await turn.start();
  t.teardown(() => turn.close());
  const server = (user: string) => {
    const cred = turn.credentials(user, 600);
    return [{ urls: [`turn:127.0.0.1:${turn.port}?transport=udp`], username: cred.username, credential: cred.password }];
  };
  const track = new VideoTrack({ source: 'file', path: fixture, width: 640, height: 480, fps: 30 });
  const camera = new PeerConnection({ id: 'cam-relay', iceServers: server('engine'), iceTransportPolicy: 'relay', localAddresses: ['127.0.0.1'] });
  camera.addTrack(track);
  const viewer = new PeerConnection({ id: 'viewer-relay', iceServers: server('viewer'), iceTransportPolicy: 'relay', localAddresses: ['127.0.0.1'] });
  t.teardown(() => { viewer.close(); camera.close(); track.close(); });
  await connectEngineViewer(camera, viewer);
  let v = await viewer.getStats();
  for (const end = Date.now() + 30_000; v.framesReceived < 60 && Date.now() < end; v = await viewer.getStats()) await new Promise((r) => setTimeout(r, 100));
  t.ok(v.framesReceived >= 60, `the viewer received ${v.framesReceived} complete frames through the relay`);
  const s = await camera.getStats();
  t.equal(s.selectedPair?.localType, 'relay', 'the camera sends through its relay candidate');
  t.ok(s.packetsSent > 0, `${s.packetsSent} packets sent`);
  t.equal(s.sendBatches, 0, 'no batched system call on a relayed pair');
  t.equal(s.packetsSentBatched, 0, 'no packet sent around libnice');
});
