// The viewer modules themselves, checked against senders no one here wrote: libdatachannel's
// H.264 packetizer (ReferenceSender). harness-wrtc.test.ts does the same for wrtc. If these
// fail, an engine interop failure says nothing about the engine.
import t, { type Test } from 'tap';
import nodeDataChannel from 'node-datachannel';
import { ReferenceSender, annexBAccessUnits, FIXTURE_640x480 } from './reference-sender.js';
import { connectToEngine, type Viewer } from './viewer.js';
import { DataChannelViewer } from './datachannel.js';
import { WeriftViewer } from './werift.js';
import { ChromiumHost } from './chromium.js';
import { readFileSync } from 'node:fs';

t.teardown(async () => {
  // libdatachannel keeps the process alive ~60 s after the last close unless cleaned up.
  await new Promise((r) => setTimeout(r, 500));
  nodeDataChannel.cleanup();
});

t.test('fixture splits into 90 access units, an IDR every 30', async (t) => {
  const aus = annexBAccessUnits(readFileSync(FIXTURE_640x480));
  t.equal(aus.length, 90);
  const idr = aus.map((au, i) => (au.includes(Buffer.from([0, 0, 0, 1, 0x65])) ? i : -1)).filter((i) => i >= 0);
  t.same(idr, [0, 30, 60]);
});

async function receiveFromReference(t: Test, viewer: Viewer): Promise<void> {
  const sender = new ReferenceSender();
  t.teardown(async () => {
    await viewer.close();
    sender.close();
  });
  const conn = await connectToEngine(viewer, sender);
  const stats = await viewer.waitForFrames(60, 10_000);
  t.ok(stats.frames >= 60, `${stats.frames} frames`);
  t.ok(stats.keyframes >= 1, 'a keyframe among them');
  t.equal(stats.width, 640);
  t.equal(stats.height, 480);
  t.equal(stats.codec?.toLowerCase(), 'video/h264');
  if (stats.firstFrameIsKeyframe !== undefined) t.ok(stats.firstFrameIsKeyframe, 'first access unit is an IDR with SPS/PPS');
  t.ok(conn.viewerStates.includes('connected'), `viewer states ${conn.viewerStates.join(',')}`);
  t.same(conn.candidateErrors, []);
}

t.test('node-datachannel viewer reassembles H.264 from libdatachannel', async (t) => {
  await receiveFromReference(t, new DataChannelViewer());
});

t.test('werift viewer reassembles H.264 from libdatachannel', async (t) => {
  await receiveFromReference(t, new WeriftViewer());
});

t.test('Chromium viewer decodes H.264 from libdatachannel', async (t) => {
  const host = await ChromiumHost.launch();
  t.teardown(() => host.close());
  await receiveFromReference(t, await host.newViewer());
});
