// The engine answers node-datachannel (libdatachannel); complete H.264 access units are
// reassembled from the RTP it hands up, and the first one must be an IDR with SPS/PPS.
import t from 'tap';
import nodeDataChannel from 'node-datachannel';
import { DataChannelViewer } from '../peers/datachannel.js';
import { assertVideo, streamToViewer, videoTrack } from './engine-session.js';

t.teardown(async () => {
  // libdatachannel keeps the process alive for about a minute after the last close otherwise.
  await new Promise((r) => setTimeout(r, 500));
  nodeDataChannel.cleanup();
});

t.test('node-datachannel receives complete H.264 access units, keyframe first', async (t) => {
  const viewer = new DataChannelViewer({ name: 'node-datachannel' });
  const r = await streamToViewer(t, viewer);
  if (!r) return;
  assertVideo(t, r);
  t.equal(r.stats.firstFrameIsKeyframe, true, 'first complete access unit is an IDR preceded by SPS and PPS');
  t.comment(`depacketizer: ${JSON.stringify(viewer.rtpStats())}`);
});

// PLI from the viewer -> IDR from the encoder (issue 2: "PLI and FIR received -> IDR requested").
// With a 10 s GOP, a second keyframe within 5 s of the PLI can only come from the request.
t.test('a PLI from node-datachannel brings an IDR well before the next GOP', async (t) => {
  const track = videoTrack(t, { keyframeInterval: 300 });
  const viewer = new DataChannelViewer({ name: 'node-datachannel PLI' });
  const r = await streamToViewer(t, viewer, { track });
  if (!r) return;
  const before = (await viewer.stats()).keyframes;
  t.ok(viewer.requestKeyframe(), 'PLI sent');
  const deadline = Date.now() + 5_000;
  let now = await viewer.stats();
  while (now.keyframes <= before && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 50));
    now = await viewer.stats();
  }
  t.ok(now.keyframes > before, `keyframes ${before} -> ${now.keyframes} within 5 s of the PLI`);
  const engineStats = await r.pc.getStats();
  t.ok(engineStats.pliReceived >= 1, `engine counted ${engineStats.pliReceived} PLI`);
});

t.test('node-datachannel with audio + video recvonly and a data channel', async (t) => {
  const viewer = new DataChannelViewer({ name: 'node-datachannel audio+video+data', audio: true, dataChannel: true });
  const r = await streamToViewer(t, viewer);
  if (!r) return;
  assertVideo(t, r);
  t.equal(r.stats.firstFrameIsKeyframe, true, 'first complete access unit is an IDR preceded by SPS and PPS');
});
