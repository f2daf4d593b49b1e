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
