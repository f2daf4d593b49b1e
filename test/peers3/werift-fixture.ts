// A werift viewer in a child process, so a test can run it inside a network namespace
// (`ip netns exec NS node --import tsx test/peers3/werift-fixture.ts`). It offers recvonly H.264
// (werift's default feedback: nack, nack pli, goog-remb) and counts complete access units with
// AuAssembler, which waits for retransmitted packets. werift's receiver sends NACKs for gaps.
// JSON lines. Out: {type:'offer'}, {type:'candidate'}, {type:'state'}, {type:'frame', keyframe}
// per completed access unit (keyframe: IDR with SPS/PPS first), {type:'report', ...} on request.
// In: {type:'answer'}, {type:'candidate'}, {type:'report'}, {type:'close'}.
import { RTCPeerConnection, useH264 } from 'werift';
import { AuAssembler } from './au-assembler.js';
import { out, serveCommands, shutdownOnce } from './fixture-io.js';

const pc = new RTCPeerConnection({ codecs: { video: [useH264()] } });
const assembler = new AuAssembler();
let payloadType: number | undefined;
let otherPayloadTypes = 0;

pc.onIceCandidate.subscribe((c) => {
  out(c ? { type: 'candidate', candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null } : { type: 'candidate', candidate: '', sdpMid: null, sdpMLineIndex: null });
});
pc.connectionStateChange.subscribe((s) => out({ type: 'state', state: s }));
pc.addTransceiver('video', { direction: 'recvonly' });
pc.onTrack.subscribe((track) => {
  track.onReceiveRtp.subscribe((rtp) => {
    if (payloadType !== undefined && rtp.header.payloadType !== payloadType) {
      otherPayloadTypes++;
      return;
    }
    for (const au of assembler.push({
      sequenceNumber: rtp.header.sequenceNumber,
      timestamp: rtp.header.timestamp,
      marker: rtp.header.marker,
      payload: rtp.payload,
    })) {
      out({ type: 'frame', keyframe: au.keyframe && au.parameterSetsFirst });
    }
  });
});

const offer = await pc.createOffer();
await pc.setLocalDescription(offer);
out({ type: 'offer', sdp: pc.localDescription?.sdp ?? offer.sdp });

const shutdown = shutdownOnce(() => pc.close().catch(() => undefined));

serveCommands(
  {
    answer: async (msg) => {
      const sdp = msg.sdp ?? '';
      const m = /^a=rtpmap:(\d+) H264\/90000/im.exec(sdp);
      payloadType = m ? Number(m[1]) : undefined;
      await pc.setRemoteDescription({ type: 'answer', sdp });
    },
    candidate: async (msg) => {
      if (!msg.candidate) return;
      await pc.addIceCandidate({ candidate: msg.candidate, sdpMid: msg.sdpMid ?? undefined, sdpMLineIndex: msg.sdpMLineIndex ?? undefined });
    },
    report: () => out({ type: 'report', assembler: assembler.stats, otherPayloadTypes }),
  },
  shutdown,
);
