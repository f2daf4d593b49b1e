// The engine as a viewer (viewer role: it offers recvonly H.264, with transport-cc) in a child
// process, so a test can run it inside a network namespace
// (`ip netns exec NS node --import tsx test/peers3/engine-viewer-fixture.ts '<json options>'`).
// JSON lines, the ProcessViewer protocol. Out: {type:'offer'}, {type:'candidate'},
// {type:'state'}, {type:'frame', keyframe} per complete access unit received (from the engine's
// own depacketizer counts), {type:'stats', peer} on request. In: {type:'answer'},
// {type:'candidate'}, {type:'stats'}, {type:'close'}.
import { PeerConnection } from '../../ts/native/index.js';
import type { PeerConnectionOptions } from '../../ts/native/index.js';
import { out, reportEngineEvents, serveCommands, shutdownOnce } from './fixture-io.js';

const options = JSON.parse(process.argv[2] ?? '{}') as { pc?: PeerConnectionOptions };
const pc = new PeerConnection({ id: 'engine-viewer', iceServers: [], ...options.pc });
reportEngineEvents(pc);

// Frames as the engine counts them, reported one message each.
let frames = 0;
let keyframes = 0;
const poll = setInterval(() => {
  void pc.getStats().then((s) => {
    for (; frames < s.framesReceived; frames++) {
      const keyframe = keyframes < s.keyframesReceived;
      if (keyframe) keyframes++;
      out({ type: 'frame', keyframe });
    }
  }, () => undefined);
}, 100);

const shutdown = shutdownOnce(() => {
  clearInterval(poll);
  pc.close();
}, 100);

serveCommands(
  {
    answer: (msg) => pc.setRemoteAnswer(msg.sdp ?? ''),
    candidate: (msg) => {
      if (msg.candidate) pc.addRemoteCandidate({ candidate: msg.candidate, sdpMid: msg.sdpMid ?? null, sdpMLineIndex: msg.sdpMLineIndex ?? null });
    },
    stats: async () => out({ type: 'stats', peer: await pc.getStats() }),
  },
  shutdown,
);

out({ type: 'offer', sdp: await pc.createOffer({ video: true }) });
