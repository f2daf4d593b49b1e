// The engine answers werift (pure TypeScript); complete H.264 access units are reassembled
// from its onReceiveRtp, and the first one must be an IDR with SPS/PPS.
import t from 'tap';
import { WeriftViewer } from '../peers/werift.js';
import { assertVideo, streamToViewer, videoTrack } from './engine-session.js';

t.test('werift receives complete H.264 access units, keyframe first', async (t) => {
  const viewer = new WeriftViewer({ name: 'werift' });
  const r = await streamToViewer(t, viewer);
  if (!r) return;
  assertVideo(t, r);
  t.equal(r.stats.firstFrameIsKeyframe, true, 'first complete access unit is an IDR preceded by SPS and PPS');
  t.comment(`depacketizer: ${JSON.stringify(viewer.rtpStats())}`);
});

// Not with a data channel: werift 0.25 throws "sctpRemotePort not exist" on an answer that
// rejects the m=application section (port 0), which RFC 8843 / RFC 3264 allow.
t.test('werift with audio + video recvonly', async (t) => {
  const viewer = new WeriftViewer({ name: 'werift audio+video', audio: true });
  const r = await streamToViewer(t, viewer);
  if (r) assertVideo(t, r);
});

t.test('werift with the engine restricted to 127.0.0.1 (localAddresses)', async (t) => {
  const viewer = new WeriftViewer({ name: 'werift loopback' });
  const r = await streamToViewer(t, viewer, { pc: { localAddresses: ['127.0.0.1'] } });
  if (!r) return;
  assertVideo(t, r);
  const hosts = r.conn.engineCandidates.map((c) => c.candidate).filter((c) => c !== '');
  const inAnswer = r.conn.answer.split(/\r?\n/).filter((l) => l.startsWith('a=candidate:')).map((l) => l.slice(2));
  const all = [...hosts, ...inAnswer];
  t.ok(all.length > 0, 'engine offered candidates');
  t.same(all.filter((c) => !/ 127\.0\.0\.1 /.test(c)), [], 'every engine candidate is on 127.0.0.1');
});

// DESIGN: a viewer that joins gets a keyframe at once, not at the next GOP. With a 10 s GOP, a
// late joiner whose first complete access unit is an IDR (with SPS/PPS) within the 10 s window
// shows the engine asked the encoder for one.
t.test('a viewer joining a running track starts on a keyframe, not at the next GOP', async (t) => {
  const track = videoTrack(t, { keyframeInterval: 300 });
  const first = await streamToViewer(t, new WeriftViewer({ name: 'werift first' }), { track });
  if (!first) return;
  assertVideo(t, first);
  const late = await streamToViewer(t, new WeriftViewer({ name: 'werift late joiner' }), { track });
  if (!late) return;
  assertVideo(t, late);
  t.equal(late.stats.firstFrameIsKeyframe, true, 'late joiner: first complete access unit is an IDR preceded by SPS and PPS');
  t.ok(track.stats().keyframeRequests >= 1, `track counted ${track.stats().keyframeRequests} keyframe request(s)`);
});
