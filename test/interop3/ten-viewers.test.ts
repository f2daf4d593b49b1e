// Ten real viewers at once on ONE VideoTrack: werift and node-datachannel (access units
// reassembled from RTP, keyframe first), aiortc and GStreamer webrtcbin (decoded pictures).
// Every viewer must get >= 60 frames, and the track must show one encoder: one frame rate's
// worth of encoded frames (not ten), IDRs not one per viewer per second, 10 subscribers.
import t from 'tap';
import nodeDataChannel from 'node-datachannel';
import type { PeerConnection } from '../../ts/native/index.js';
import { DataChannelViewer } from '../peers/datachannel.js';
import { FrameTimeoutError, sleep, type VideoReceiveStats } from '../peers/viewer.js';
import { WeriftViewer } from '../peers/werift.js';
import { ProcessViewer, peerScript, type ViewerLike } from '../peers3/process-viewer.js';
import { MIN_FRAMES, TRACK, connect, enginePeer, type Connection, videoTrack } from './session.js';

const VIEWERS = 10;
/** Generous: ten joins at once on two shared cores. Not a performance assertion. */
const WAIT_MS = 45_000;
const KEYFRAME_INTERVAL = 150; // 5 s GOP, so join IDRs are what we count

function makeViewers(): ViewerLike[] {
  const v: ViewerLike[] = [];
  for (let i = 0; i < 4; i++) v.push(new WeriftViewer({ name: `werift #${i + 1}`, audio: i % 2 === 1 }));
  for (let i = 0; i < 4; i++) v.push(new DataChannelViewer({ name: `node-datachannel #${i + 1}`, audio: i % 2 === 1 }));
  v.push(new ProcessViewer('aiortc', [peerScript('aiortc_viewer.py')], 'aiortc'));
  v.push(new ProcessViewer('webrtcbin', [peerScript('gst_viewer.py')], 'webrtcbin'));
  return v;
}

t.teardown(async () => {
  // libdatachannel keeps the process alive for about a minute after the last close otherwise.
  await new Promise((r) => setTimeout(r, 500));
  nodeDataChannel.cleanup();
});

t.test(`${VIEWERS} simultaneous viewers of mixed stacks on one track`, async (t) => {
  const track = videoTrack(t, { keyframeInterval: KEYFRAME_INTERVAL });
  const viewers = makeViewers();
  t.equal(viewers.length, VIEWERS, `${VIEWERS} viewers: ${viewers.map((v) => v.kind).join(', ')}`);
  for (const v of viewers) t.teardown(() => v.close());
  const pcs: PeerConnection[] = viewers.map((_, i) => enginePeer(t, track, { id: `viewer-${i + 1}` }));

  const started = Date.now();
  const conns = await Promise.allSettled(viewers.map((v, i) => connect(v, pcs[i]!)));
  const failedConnect = conns.flatMap((c, i) => (c.status === 'rejected' ? [`${viewers[i]!.kind} #${i + 1}: ${String(c.reason)}`] : []));
  t.same(failedConnect, [], 'every offer was answered');
  if (failedConnect.length > 0) return;
  const connections = conns.map((c) => (c as PromiseFulfilledResult<Connection>).value);

  const results = await Promise.all(
    viewers.map(async (v): Promise<VideoReceiveStats | string> => {
      try {
        return await v.waitForFrames(MIN_FRAMES, WAIT_MS);
      } catch (e) {
        return e instanceof FrameTimeoutError ? e.message : String(e);
      }
    }),
  );
  const allInMs = Date.now() - started;
  const during = track.stats();

  for (const [i, r] of results.entries()) {
    const v = viewers[i]!;
    const label = `${v.kind} #${i + 1}`;
    if (typeof r === 'string') {
      t.fail(`${label}: fewer than ${MIN_FRAMES} frames`, {
        error: r,
        engineStates: connections[i]!.engineStates,
        viewerStates: connections[i]!.viewerStates,
        engineStats: await pcs[i]!.getStats().catch((e: unknown) => String(e)),
        offer: connections[i]!.offer,
        answer: connections[i]!.answer,
      });
      continue;
    }
    t.ok(r.frames >= MIN_FRAMES, `${label}: ${r.frames} frames (>= ${MIN_FRAMES}), first after ${r.firstFrameMs ?? '?'} ms`);
    t.equal(r.firstFrameIsKeyframe, true, `${label}: first frame is a keyframe`);
    t.equal(r.width, TRACK.width, `${label}: width ${r.width ?? '?'}`);
    t.equal(r.height, TRACK.height, `${label}: height ${r.height ?? '?'}`);
  }

  t.equal(during.subscribers, VIEWERS, `track has ${during.subscribers} subscribers`);
  const ssrcs = new Set(connections.map((c) => /^a=ssrc:(\d+) /m.exec(c.answer)?.[1]));
  t.equal(ssrcs.size, VIEWERS, `each answer has its own SSRC (${ssrcs.size} distinct)`);

  // One encoder: over a steady window with all ten connected, frames are encoded at the
  // track's rate (ten encoders feeding it would make ten times as many). Upper bound only.
  const a = track.stats();
  const t0 = Date.now();
  await sleep(3000);
  const b = track.stats();
  const seconds = (Date.now() - t0) / 1000;
  const rate = (b.framesEncoded - a.framesEncoded) / seconds;
  t.ok(rate <= TRACK.fps * 1.5, `encoded ${rate.toFixed(1)} frames/s with ${VIEWERS} viewers (track fps ${TRACK.fps}; ten encoders would be ~${TRACK.fps * VIEWERS})`);
  t.ok(b.framesEncoded <= ((Date.now() - started) / 1000 + 2) * TRACK.fps * 1.5, `${b.framesEncoded} frames encoded since the first offer, one stream's worth`);
  const elapsed = (Date.now() - started) / 1000;
  t.ok(b.keyframesEncoded < VIEWERS * elapsed, `${b.keyframesEncoded} keyframes in ${elapsed.toFixed(1)} s: not one per viewer per second`);
  t.ok(b.keyframesEncoded <= VIEWERS + Math.ceil(b.framesEncoded / KEYFRAME_INTERVAL) + 5, `${b.keyframesEncoded} keyframes <= joins (${VIEWERS}) + GOPs (${Math.ceil(b.framesEncoded / KEYFRAME_INTERVAL)}) + 5 for PLIs`);
  t.ok(b.keyframesEncoded - a.keyframesEncoded <= 2, `${b.keyframesEncoded - a.keyframesEncoded} keyframe(s) in the steady ${seconds.toFixed(1)} s window`);

  const peerStats = await Promise.all(pcs.map((pc) => pc.getStats()));
  t.comment(`all ${VIEWERS} had ${MIN_FRAMES} frames ${allInMs} ms after the offers; track: ${JSON.stringify(b)}`);
  t.comment(`per peer framesSent: ${peerStats.map((s) => s.framesSent).join(', ')}; keyframesSent: ${peerStats.map((s) => s.keyframesSent).join(', ')}; pli: ${peerStats.map((s) => s.pliReceived).join(', ')}`);
  t.ok(peerStats.every((s) => s.state === 'connected'), `engine peers: ${peerStats.map((s) => s.state).join(', ')}`);
});
