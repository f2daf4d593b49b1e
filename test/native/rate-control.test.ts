// One encoder, several viewers: the encoder's bitrate follows the weakest viewer's estimate
// (REMB from libdatachannel), every viewer sees the lower rate, and it comes back when that
// viewer leaves.
import nodeDataChannel from 'node-datachannel';
import t from 'tap';
import { PeerConnection, VideoTrack } from '../../ts/native/index.js';
import { DataChannelViewer } from '../peers/datachannel.js';
import { connectToEngine, sleep } from '../peers/viewer.js';

async function kbpsOver(pc: PeerConnection, ms: number): Promise<number> {
  const a = await pc.getStats();
  await sleep(ms);
  const b = await pc.getStats();
  return ((b.bytesSent - a.bytesSent) * 8) / ms;
}

// node-datachannel keeps the process alive for a minute unless cleaned up at the end.
t.teardown(() => nodeDataChannel.cleanup());

t.test('the shared encoder follows the weakest viewer (REMB) and recovers when it leaves', async (t) => {
  const track = new VideoTrack({ width: 1280, height: 720, fps: 30, bitrateKbps: 2000 });
  const strong = new PeerConnection({ id: 'strong' });
  const weak = new PeerConnection({ id: 'weak' });
  strong.addTrack(track);
  weak.addTrack(track);
  const strongViewer = new DataChannelViewer();
  const weakViewer = new DataChannelViewer();
  t.teardown(async () => {
    strong.close();
    weak.close();
    await strongViewer.close();
    await weakViewer.close();
    track.close();
  });
  await connectToEngine(strongViewer, strong);
  await connectToEngine(weakViewer, weak);
  await strongViewer.waitForFrames(30, 15000);
  await weakViewer.waitForFrames(30, 15000);
  await sleep(1500);
  const before = await kbpsOver(strong, 3000);
  t.equal(track.stats().targetBitrateKbps, 2000, `no viewer asks for less: the configured bitrate (strong: ${JSON.stringify((await strong.getStats()).estimatedBitrateKbps)}, weak: ${JSON.stringify((await weak.getStats()).estimatedBitrateKbps)})`);

  // The weak viewer's REMB says 250 kbps, repeatedly (as receivers do).
  for (let i = 0; i < 8; i++) {
    t.ok(weakViewer.requestBitrate(150_000), 'REMB sent');
    await sleep(250);
  }
  t.ok(track.stats().targetBitrateKbps <= 150, `target follows the weakest viewer (${track.stats().targetBitrateKbps} kbps)`);
  const estimate = (await weak.getStats()).estimatedBitrateKbps;
  t.equal(estimate, 150, 'the weak viewer\'s estimate is the REMB value');
  await sleep(1000);
  const during = await kbpsOver(strong, 3000);
  t.ok(during < before * 0.7, `the strong viewer receives the lower rate too: ${before.toFixed(0)} -> ${during.toFixed(0)} kbps`);

  weak.close();
  await sleep(500);
  t.equal(track.stats().targetBitrateKbps, 2000, 'the weak viewer left: back to the configured bitrate');
  t.equal(track.stats().subscribers, 1);
  await sleep(1500);
  const after = await kbpsOver(strong, 3000);
  t.ok(after > during * 1.5, `the rate comes back: ${during.toFixed(0)} -> ${after.toFixed(0)} kbps`);
  const stats = await strongViewer.waitForFrames(60, 5000);
  t.ok(stats.frames >= 60, 'the strong viewer kept receiving frames throughout');
});
