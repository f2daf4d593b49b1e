// The engine answers node-datachannel (libdatachannel); complete H.264 access units are
// reassembled from the RTP it hands up, and the first one must be an IDR with SPS/PPS.
import t from 'tap';
import nodeDataChannel from 'node-datachannel';
import { DataChannelViewer } from '../peers/datachannel.js';
import { assertVideo, streamToViewer } from './engine-session.js';

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
