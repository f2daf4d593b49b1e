// The engine in a child process, so a test can run it inside a network namespace
// (`ip netns exec NS node --import tsx test/peers3/engine-fixture.ts '<json options>'`).
// JSON lines. In: {type:'offer', sdp}, {type:'candidate', candidate, sdpMid, sdpMLineIndex},
// {type:'stats'}, {type:'stop-track'}, {type:'close'}. Out: {type:'ready'}, {type:'answer', sdp},
// {type:'candidate', ...}, {type:'state', state}, {type:'stats', peer, track},
// {type:'track-stopped'}, {type:'error', message}.
import { PeerConnection, VideoTrack } from '../../ts/native/index.js';
import type { PeerConnectionOptions, VideoTrackOptions } from '../../ts/native/index.js';
import { out, reportEngineEvents, serveCommands, shutdownOnce } from './fixture-io.js';

interface Options {
  track?: VideoTrackOptions;
  pc?: PeerConnectionOptions;
}

const options = JSON.parse(process.argv[2] ?? '{}') as Options;
const track = new VideoTrack({ width: 640, height: 480, fps: 30, bitrateKbps: 1000, ...options.track });
const pc = new PeerConnection({ iceServers: [], ...options.pc });
pc.addTrack(track);
reportEngineEvents(pc);

const shutdown = shutdownOnce(() => {
  pc.close();
  track.close();
}, 100);

serveCommands(
  {
    offer: async (msg) => out({ type: 'answer', sdp: await pc.setRemoteOffer(msg.sdp ?? '') }),
    candidate: (msg) => pc.addRemoteCandidate({ candidate: msg.candidate ?? '', sdpMid: msg.sdpMid ?? null, sdpMLineIndex: msg.sdpMLineIndex ?? null }),
    stats: async () => out({ type: 'stats', peer: await pc.getStats(), track: track.stats() }),
    'stop-track': () => {
      // Stops the encoder; the peer stays up, so late NACKs are still answered.
      track.close();
      out({ type: 'track-stopped' });
    },
  },
  shutdown,
);

out({ type: 'ready' });
