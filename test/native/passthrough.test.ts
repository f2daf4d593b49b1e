// H.264 that a source already encodes, passed through without re-encoding: an Annex-B file
// (looped) and a live command's stdout (GStreamer; supervised, restarted when it exits) reach a viewer as
// complete access units, keyframe first.
import nodeDataChannel from 'node-datachannel';
import t from 'tap';
import { PeerConnection, VideoTrack } from '../../ts/native/index.js';
import { DataChannelViewer } from '../peers/datachannel.js';
import { connectToEngine } from '../peers/viewer.js';
import { connectEngineViewer } from './engine-pair.js';

const fixture = new URL('../peers/fixtures/pattern-640x480.h264', import.meta.url).pathname;
t.teardown(async () => {
  await new Promise((r) => setTimeout(r, 300));
  nodeDataChannel.cleanup();
});

for (const kind of ['file', 'pipe'] as const) {
  t.test(`${kind} source: frames reach the viewer unchanged`, async (t) => {
    const track = kind === 'file'
      ? new VideoTrack({ source: 'file', path: fixture, width: 640, height: 480, fps: 30 })
      // A camera-like command: a live GStreamer pipeline writing H.264 Annex-B to stdout.
      : new VideoTrack({ source: 'pipe', width: 320, height: 240, fps: 30, command: ['gst-launch-1.0', '-q', 'videotestsrc', 'is-live=true', '!',
        'video/x-raw,width=320,height=240,framerate=30/1', '!', 'openh264enc', 'gop-size=30', '!', 'h264parse', 'config-interval=-1', '!',
        'video/x-h264,stream-format=byte-stream,alignment=au', '!', 'fdsink', 'fd=1'] });
    const pc = new PeerConnection();
    pc.addTrack(track);
    const viewer = new DataChannelViewer();
    t.teardown(async () => { pc.close(); await viewer.close(); track.close(); });
    await connectToEngine(viewer, pc);
    const s = await viewer.waitForFrames(60, 20000);
    t.ok(s.frames >= 60, `${s.frames} complete access units`);
    t.equal(s.firstFrameIsKeyframe, true, 'the first one is a keyframe with SPS/PPS');
    t.equal(s.width, kind === 'file' ? 640 : 320, 'the stream\'s own size');
    const stats = track.stats();
    t.ok(stats.framesEncoded >= 60, 'frames counted by the pipeline');
  });
}

t.test('a pipe command that exits is started again', async (t) => {
  const { readFileSync } = await import('node:fs');
  const track = new VideoTrack({ source: 'pipe', command: ['cat', fixture], width: 640, height: 480 });
  const pc = new PeerConnection();
  pc.addTrack(track);
  t.teardown(() => { pc.close(); track.close(); });
  // An offer starts the encoder side (here: the command) before anyone connects.
  await pc.setRemoteOffer(readFileSync(new URL('../../cpp/test/rtc/offers/werift.sdp', import.meta.url), 'utf8'));
  await new Promise((r) => setTimeout(r, 400));
  const firstPass = track.stats().framesEncoded;
  t.ok(firstPass > 0, `cat gave ${firstPass} access units, then exited`);
  await new Promise((r) => setTimeout(r, 2500));
  t.ok(track.stats().framesEncoded >= 2 * firstPass, `restarted after a backoff: ${track.stats().framesEncoded} access units in all`);
});

t.test('bad passthrough configs are refused with what is wrong', async (t) => {
  t.throws(() => new VideoTrack({ source: 'file', path: '/nonexistent/x.h264' }), { code: 'ERR_MEDIA', message: /cannot be read/ });
  t.throws(() => new VideoTrack({ source: 'file' }), /needs a path/);
  t.throws(() => new VideoTrack({ source: 'pipe' }), /needs a command/);
  t.throws(() => new VideoTrack({ source: 'pipe', command: 'cat x' as unknown as string[] }), /array of strings/);
});

/** An engine viewer connected to `camera` (which has the track). */
async function engineViewer(camera: PeerConnection, id: string): Promise<PeerConnection> {
  const viewer = new PeerConnection({ id });
  await connectEngineViewer(camera, viewer);
  return viewer;
}

t.test('a viewer joining a passthrough file mid-GOP gets the GOP so far at once, not a wait for the next IDR', async (t) => {
  // The fixture has an IDR every 30 frames; a file cannot make one on request.
  const track = new VideoTrack({ source: 'file', path: fixture, width: 640, height: 480, fps: 30 });
  const camA = new PeerConnection({ id: 'cam-a' });
  const camB = new PeerConnection({ id: 'cam-b' });
  camA.addTrack(track);
  camB.addTrack(track);
  const a = await engineViewer(camA, 'viewer-a');
  t.teardown(() => { a.close(); camA.close(); camB.close(); track.close(); });
  // Wait until the stream stands between 10 and 20 frames past an IDR.
  let s = await a.getStats();
  for (const end = Date.now() + 20_000; Date.now() < end; s = await a.getStats()) {
    const pos = s.framesReceived % 30;
    if (s.framesReceived >= 30 && pos >= 10 && pos <= 20) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  t.ok(s.framesReceived >= 30, `viewer A is streaming (${s.framesReceived} frames)`);
  const b = await engineViewer(camB, 'viewer-b');
  t.teardown(() => b.close());
  let sb = await b.getStats();
  for (const end = Date.now() + 10_000; sb.framesReceived < 30 && Date.now() < end; sb = await b.getStats()) await new Promise((r) => setTimeout(r, 50));
  const burst = (await camB.getStats()).joinBurstFrames;
  t.ok(burst > 8, `viewer B was sent the ${burst} frames since the last IDR when it connected`);
  t.ok(sb.keyframesReceived >= 1 && sb.framesReceived >= 30, `viewer B decodes from that IDR on (${sb.framesReceived} frames, ${sb.keyframesReceived} keyframes)`);
  t.equal(sb.incompleteFrames, 0, 'with nothing missing');
  t.comment(`viewer B's time to first frame: ${sb.timing.firstFrameReceivedMs?.toFixed(1)} ms from its offer`);
});
