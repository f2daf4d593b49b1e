// Transport-wide congestion control (draft-holmer-rmcat-transport-wide-cc-extensions-01) with
// real peers on loopback:
// - headless Chromium offers the header extension and transport-cc feedback; the engine answers
//   them (same extmap id), stamps every packet, and Chromium's feedback yields the estimate in
//   force for that viewer (stats), while Chromium keeps decoding;
// - the engine as viewer offers transport-cc to the engine as camera: the viewer sends feedback
//   for what it receives, the camera estimates from it (engine-to-engine uses TWCC both ways);
// - without transport-cc in the offer, none of it is answered or sent.
import t from 'tap';
import { PeerConnection, VideoTrack, type PeerStats } from '../../ts/native/index.js';
import { ChromiumHost } from '../peers/chromium.js';
import { connectToEngine, sleep } from '../peers/viewer.js';
import { connectEngineViewer } from './engine-pair.js';

const EXT = /^a=extmap:(\d+) http:\/\/www\.ietf\.org\/id\/draft-holmer-rmcat-transport-wide-cc-extensions-01\r?$/m;

async function until(pc: PeerConnection, cond: (s: PeerStats) => boolean, ms: number): Promise<PeerStats> {
  let s = await pc.getStats();
  for (let end = Date.now() + ms; !cond(s) && Date.now() < end;) {
    await sleep(200);
    s = await pc.getStats();
  }
  return s;
}

t.test('Chromium negotiates transport-cc and its feedback drives this viewer\'s estimate', async (t) => {
  const host = await ChromiumHost.launch();
  const track = new VideoTrack({ width: 640, height: 480, fps: 30, bitrateKbps: 1200 });
  const pc = new PeerConnection({ id: 'twcc-chromium', localAddresses: ['127.0.0.1'] });
  pc.addTrack(track);
  t.teardown(async () => {
    pc.close();
    track.close();
    await host.close();
  });
  const viewer = await host.newViewer();
  const conn = await connectToEngine(viewer, pc);
  const offered = EXT.exec(conn.offer)?.[1];
  t.ok(offered, `Chromium offers the transport-wide-cc extension (id ${offered})`);
  t.equal(EXT.exec(conn.answer)?.[1], offered, 'the engine answers it with the same id');
  t.match(conn.answer, /^a=rtcp-fb:\d+ transport-cc\r?$/m, 'and a=rtcp-fb transport-cc on the H.264 payload type');
  const frames = await viewer.waitForFrames(60, 20000);
  t.ok(frames.frames >= 60, `Chromium decodes the stamped packets (${frames.frames} frames)`);
  const s = await until(pc, (s) => s.twccFeedbackReceived >= 20 && (s.twccAckedKbps ?? 0) > 0, 15000);
  t.ok(s.transportCc, 'stats: transport-cc negotiated');
  t.ok(s.twccFeedbackReceived >= 20, `engine received ${s.twccFeedbackReceived} transport-cc feedback packets`);
  t.equal(s.twccFeedbackErrors, 0, 'none malformed');
  t.ok((s.twccEstimateKbps ?? 0) > 0, `non-zero TWCC estimate: ${s.twccEstimateKbps} kbps`);
  t.ok((s.twccAckedKbps ?? 0) > 0, `acknowledged bitrate ${s.twccAckedKbps} kbps`);
  t.equal(s.estimateSource, 'twcc', 'the TWCC estimate is the one in force (Chromium sends no REMB with transport-cc)');
  t.equal(s.estimatedBitrateKbps, s.twccEstimateKbps, 'estimatedBitrateKbps is the TWCC estimate');
  t.comment(`TWCC estimate ${s.twccEstimateKbps} kbps, acked ${s.twccAckedKbps} kbps, loss ${s.twccLossFraction}, delay ${s.twccDelaySignal}, encoder target ${track.stats().targetBitrateKbps} kbps`);
  t.ok(track.stats().targetBitrateKbps > 0, 'the encoder target is set');
});

t.test('engine viewer <- engine camera: transport-cc both ways', async (t) => {
  const track = new VideoTrack({ width: 640, height: 480, fps: 30, bitrateKbps: 800 });
  const camera = new PeerConnection({ id: 'twcc-camera', localAddresses: ['127.0.0.1'] });
  camera.addTrack(track);
  const viewer = new PeerConnection({ id: 'twcc-viewer', localAddresses: ['127.0.0.1'] });
  t.teardown(() => {
    viewer.close();
    camera.close();
    track.close();
  });
  const { offer, answer } = await connectEngineViewer(camera, viewer);
  t.equal(EXT.exec(offer)?.[1], '3', 'the viewer offers the transport-wide-cc extension');
  t.match(offer, /^a=rtcp-fb:102 transport-cc\r?$/m, 'and transport-cc feedback');
  t.equal(EXT.exec(answer)?.[1], '3', 'the camera answers it');
  const v = await until(viewer, (s) => s.framesReceived >= 60 && s.twccFeedbackSent >= 20, 20000);
  t.ok(v.framesReceived >= 60, `viewer: ${v.framesReceived} frames`);
  t.ok(v.transportCc, 'viewer: transport-cc negotiated');
  t.ok(v.twccFeedbackSent >= 20, `viewer sent ${v.twccFeedbackSent} transport-cc feedback packets`);
  const c = await until(camera, (s) => s.twccFeedbackReceived >= 20 && (s.twccAckedKbps ?? 0) > 0, 10000);
  t.ok(c.twccFeedbackReceived >= 20, `camera received ${c.twccFeedbackReceived} of them`);
  t.equal(c.twccFeedbackErrors, 0, 'camera: none malformed');
  t.equal(c.estimateSource, 'twcc', 'camera: the TWCC estimate is in force');
  // The acknowledged bitrate is what the camera sent, as the viewer's feedback says it arrived.
  const a = await camera.getStats();
  await sleep(3000);
  const b = await camera.getStats();
  const sentKbps = ((b.bytesSent - a.bytesSent) * 8) / 3000;
  t.ok((b.twccAckedKbps ?? 0) > sentKbps * 0.5 && (b.twccAckedKbps ?? 0) < sentKbps * 2,
    `acknowledged ${b.twccAckedKbps} kbps matches the ${sentKbps.toFixed(0)} kbps sent`);
  t.equal(b.twccLossFraction, 0, 'no loss on loopback');
  t.comment(`camera: TWCC estimate ${b.twccEstimateKbps} kbps, delay ${b.twccDelaySignal}, target ${track.stats().targetBitrateKbps} kbps`);
});

t.test('an offer without transport-cc gets none', async (t) => {
  const track = new VideoTrack({ width: 320, height: 240, fps: 15, bitrateKbps: 300 });
  const camera = new PeerConnection({ id: 'no-twcc', localAddresses: ['127.0.0.1'] });
  camera.addTrack(track);
  const viewer = new PeerConnection({ id: 'no-twcc-viewer', localAddresses: ['127.0.0.1'] });
  t.teardown(() => {
    viewer.close();
    camera.close();
    track.close();
  });
  const offer = (await viewer.createOffer({ video: true }))
    .split('\r\n')
    .filter((l) => !/transport-cc|transport-wide-cc/.test(l))
    .join('\r\n');
  const answer = await camera.setRemoteOffer(offer);
  t.notMatch(answer, /transport-cc|transport-wide-cc/, 'the answer has neither the extension nor the feedback');
  t.equal((await camera.getStats()).transportCc, false, 'stats: not negotiated');
});
