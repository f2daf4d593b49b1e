// The engine answers headless Chromium (Debian's chromium via playwright-core); frames counted
// by Chromium's decoder (getStats inbound-rtp framesDecoded).
import t from 'tap';
import { ChromiumHost } from '../peers/chromium.js';
import { assertVideo, streamToViewer, videoTrack } from './engine-session.js';

const host = await ChromiumHost.launch();
t.teardown(() => host.close());

t.test('Chromium decodes the engine H.264 (video-only recvonly offer)', async (t) => {
  const r = await streamToViewer(t, await host.newViewer({ name: 'chromium video-only' }));
  if (r) assertVideo(t, r);
});

t.test('Chromium with the KVS viewer offer: audio + video recvonly and a data channel', async (t) => {
  const r = await streamToViewer(t, await host.newViewer({ name: 'chromium audio+video+data', audio: true, dataChannel: true }));
  if (r) assertVideo(t, r);
});

t.test('two Chromium viewers of one track at once', async (t) => {
  const a = await host.newViewer({ name: 'chromium A' });
  const b = await host.newViewer({ name: 'chromium B' });
  const track = videoTrack(t);
  const [ra, rb] = await Promise.all([streamToViewer(t, a, { track }), streamToViewer(t, b, { track })]);
  if (ra) assertVideo(t, ra);
  if (rb) assertVideo(t, rb);
  t.equal(track.stats().subscribers, 2, 'one track, two subscribed peers');
});

t.test('a viewer that leaves does not disturb the one that stays', async (t) => {
  const track = videoTrack(t);
  const stay = await host.newViewer({ name: 'chromium staying' });
  const leave = await host.newViewer({ name: 'chromium leaving' });
  const [rs, rl] = await Promise.all([streamToViewer(t, stay, { track }), streamToViewer(t, leave, { track })]);
  if (!rs || !rl) return;
  await leave.close();
  const before = (await stay.stats()).frames;
  const after = await stay.waitForFrames(before + 60, 10_000).catch((e: unknown) => e);
  t.notOk(after instanceof Error, 'staying viewer got 60 more frames within 10 s after the other left', after instanceof Error ? { error: after.message } : {});
  // The engine learns of the departure (DTLS close_notify, or ICE consent within ~30 s).
  const deadline = Date.now() + 40_000;
  while (!rl.conn.engineStates.some((s) => ['disconnected', 'failed', 'closed'].includes(s)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
  }
  t.ok(
    rl.conn.engineStates.some((s) => ['disconnected', 'failed', 'closed'].includes(s)),
    `engine peer of the viewer that left: ${rl.conn.engineStates.join(' -> ')}`,
  );
  t.notOk(rs.conn.engineStates.some((s) => ['disconnected', 'failed', 'closed'].includes(s)), `engine peer of the staying viewer: ${rs.conn.engineStates.join(' -> ')}`);
});
