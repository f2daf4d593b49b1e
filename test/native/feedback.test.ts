// RTCP from a real viewer (werift): a PLI makes the encoder send an IDR (with SPS/PPS), and the
// viewer's receiver reports give the engine its loss figures.
import t from 'tap';
import { RTCPeerConnection, useH264, type RtpPacket } from 'werift';
import { PeerConnection, VideoTrack } from '../../ts/native/index.js';

/** NAL unit types in one RTP payload (single NAL, STAP-A aggregates, FU-A start fragments). */
function nalTypes(payload: Buffer): number[] {
  const type = payload[0]! & 0x1f;
  if (type === 24) {
    const out: number[] = [];
    for (let i = 1; i + 2 < payload.length;) {
      const len = payload.readUInt16BE(i);
      out.push(payload[i + 2]! & 0x1f);
      i += 2 + len;
    }
    return out;
  }
  if (type === 28) return payload[1]! & 0x80 ? [payload[1]! & 0x1f] : [];
  return [type];
}

t.test('a PLI from the viewer brings an IDR preceded by SPS and PPS', async (t) => {
  const track = new VideoTrack({ width: 320, height: 240, fps: 30, bitrateKbps: 300, keyframeInterval: 100000 });
  const pc = new PeerConnection({ localAddresses: ['127.0.0.1'] });
  pc.addTrack(track);
  const viewer = new RTCPeerConnection({ codecs: { video: [useH264()] }, iceAdditionalHostAddresses: ['127.0.0.1'] });
  t.teardown(async () => {
    pc.close();
    track.close();
    await viewer.close();
  });
  const requests: string[] = [];
  pc.on('keyframe-request', (r) => requests.push(r));
  pc.on('candidate', (c) => { void viewer.addIceCandidate(c); });
  viewer.onIceCandidate.subscribe((c) => { if (c) { try { pc.addRemoteCandidate({ candidate: c.candidate, sdpMid: c.sdpMid ?? null }); } catch { /* mDNS */ } } });

  const nals: { types: number[]; at: number }[] = [];
  let ssrc = 0;
  const transceiver = viewer.addTransceiver('video', { direction: 'recvonly' });
  viewer.onTrack.subscribe((tr) => {
    tr.onReceiveRtp.subscribe((rtp: RtpPacket) => {
      ssrc = rtp.header.ssrc;
      nals.push({ types: nalTypes(rtp.payload), at: Date.now() });
    });
  });
  await viewer.setLocalDescription(await viewer.createOffer());
  const answer = await pc.setRemoteOffer(viewer.localDescription!.sdp);
  await viewer.setRemoteDescription({ type: 'answer', sdp: answer });

  const until = async (cond: () => boolean, ms: number) => {
    const end = Date.now() + ms;
    while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    return cond();
  };
  t.ok(await until(() => nals.length > 60, 15000), `video arrives (${nals.length} packets)`);
  const firstTypes = nals.slice(0, 3).flatMap((n) => n.types);
  t.same(firstTypes.slice(0, 3), [7, 8, 5], 'the stream starts with SPS, PPS, IDR');
  const idrsBefore = nals.filter((n) => n.types.includes(5)).length;
  const keyframesBefore = track.stats().keyframesEncoded;

  const sentAt = Date.now();
  await transceiver.receiver.sendRtcpPLI(ssrc);
  t.ok(await until(() => requests.includes('pli'), 5000), `the engine reports the PLI (${requests.join(',')})`);
  t.ok(await until(() => nals.some((n) => n.at >= sentAt && n.types.includes(5)), 5000), 'an IDR arrives after the PLI');
  const after = nals.filter((n) => n.at >= sentAt);
  const idrIndex = after.findIndex((n) => n.types.includes(5));
  const beforeIdr = after.slice(Math.max(0, idrIndex - 2), idrIndex + 1).flatMap((n) => n.types);
  t.ok(beforeIdr.includes(7) && beforeIdr.includes(8), `SPS and PPS come with that IDR (${beforeIdr.join(',')})`);
  t.ok(track.stats().keyframesEncoded > keyframesBefore, 'the encoder made a new keyframe (keyframe interval is far away)');
  t.ok(nals.filter((n) => n.types.includes(5)).length > idrsBefore);

  const stats = await pc.getStats();
  t.equal(stats.pliReceived, 1, 'one PLI counted');
  let later = await pc.getStats();
  for (let i = 0; i < 60 && typeof later.fractionLost !== 'number'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    later = await pc.getStats();
  }
  t.type(later.fractionLost, 'number', 'receiver reports parsed: fraction lost known');
  t.ok(later.packetsSent > 60 && later.framesSent > 10, 'packets and frames counted');
});
