// Relay-only: coturn started by the local service, time-limited credentials from
// GetIceServerConfig, two libwebrtc peers (@roamhq/wrtc) with iceTransportPolicy 'relay'
// negotiated through KVS signaling (the official JS SDK as viewer, our client as master), video
// frames arriving through TURN, and a GO_AWAY in the middle that does not interrupt them.
import t from 'tap';
import { createRequire } from 'node:module';
import { GetIceServerConfigCommand, KinesisVideoSignalingClient } from '@aws-sdk/client-kinesis-video-signaling';
import { Role, SignalingClient as SdkSignalingClient } from 'amazon-kinesis-video-streams-webrtc';
import { CoturnServer, startLocalService, stunPing } from '../../ts/local/index.js';
import type { IceCandidate, IceServer, SessionDescription } from '../../ts/kvs/index.js';
import { installWsGlobal, next, ourClient, waitFor } from './helpers.js';

interface Cand {
  candidate: string;
  sdpMid: string | null;
  sdpMLineIndex: number | null;
}
interface Track {
  kind: string;
  stop(): void;
}
interface PC {
  addTrack(track: Track, stream: unknown): void;
  addTransceiver(kind: string, init: { direction: string }): void;
  createOffer(): Promise<{ type: string; sdp: string }>;
  createAnswer(): Promise<{ type: string; sdp: string }>;
  setLocalDescription(d: { type: string; sdp: string }): Promise<void>;
  setRemoteDescription(d: { type: string; sdp: string }): Promise<void>;
  addIceCandidate(c: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null }): Promise<void>;
  getStats(): Promise<{ forEach(cb: (s: Record<string, unknown>) => void): void }>;
  close(): void;
  localDescription: { type: string; sdp: string } | null;
  connectionState: string;
  onicecandidate: ((e: { candidate: Cand | null }) => void) | null;
  onconnectionstatechange: (() => void) | null;
  ontrack: ((e: { track: Track }) => void) | null;
}
interface Wrtc {
  RTCPeerConnection: new (c: { iceServers: IceServer[]; iceTransportPolicy: 'relay' | 'all' }) => PC;
  MediaStream: new () => unknown;
  nonstandard: {
    RTCVideoSource: new () => { createTrack(): Track; onFrame(f: { width: number; height: number; data: Uint8Array }): void };
    RTCVideoSink: new (t: Track) => { stop(): void; onframe: ((e: { frame: { width: number } }) => void) | null };
  };
}
const wrtc = createRequire(import.meta.url)('@roamhq/wrtc') as Wrtc;

const typ = (c: string): string => / typ (\w+)/.exec(c)?.[1] ?? '?';

t.test('relay-only media through coturn, negotiated over KVS signaling, uninterrupted by GO_AWAY', { skip: !CoturnServer.available() && 'coturn is not installed' }, async (t) => {
  const svc = await startLocalService({ tls: true, turn: true, channels: ['cam'], closeGraceMs: 50 });
  t.teardown(() => svc.close());
  t.teardown(installWsGlobal(svc.caCert));
  t.ok(svc.turnAvailable, 'coturn is running');

  // --- master: our signaling client + a libwebrtc sender -------------------------------
  const { cp, client: master } = await ourClient(svc, 'cam', 'MASTER');
  t.teardown(() => {
    master.close();
    cp.close();
  });
  const masterIce = await cp.getIceServers('MASTER');
  const turn = masterIce.find((s) => s.urls.some((u) => u.startsWith('turn:')));
  t.ok(turn?.username && turn.credential, 'GetIceServerConfig gives TURN with time-limited credentials');
  t.match(turn?.username, /^\d+:cam\./, 'coturn shared-secret username: <expiry>:<name>');
  t.ok(turn?.urls.some((u) => /^turns:127\.0\.0\.1:\d+\?transport=tcp$/.test(u)) && !turn.urls.some((u) => /^turn:.*transport=tcp/.test(u)),
    `TCP is offered as TURN over TLS (turns:), as KVS does (${turn?.urls.join(', ') ?? ''})`);
  const turnPort = Number(/:(\d+)\?/.exec(turn?.urls[0] ?? '')?.[1]);
  t.ok(await stunPing('127.0.0.1', turnPort, 2000), 'coturn answers STUN');

  const source = new wrtc.nonstandard.RTCVideoSource();
  const data = new Uint8Array((160 * 120 * 3) / 2);
  let tick = 0;
  const pump = setInterval(() => {
    data.fill(tick++ % 255, 0, 160 * 120);
    source.onFrame({ width: 160, height: 120, data });
  }, 33);
  t.teardown(() => clearInterval(pump));
  // A live RTCVideoSource track keeps libwebrtc (and so the process) alive: stop every track.
  const tracks: Track[] = [];
  const masterCandTypes: string[] = [];
  let masterPc: PC | undefined;
  const pendingForMaster: IceCandidate[] = [];
  master.on('iceCandidate', (c: IceCandidate) => {
    if (masterPc) void masterPc.addIceCandidate(c);
    else pendingForMaster.push(c);
  });
  master.on('sdpOffer', (offer: SessionDescription, viewerId: string) => {
    void (async () => {
      const pc = new wrtc.RTCPeerConnection({ iceServers: masterIce, iceTransportPolicy: 'relay' });
      masterPc = pc;
      pc.onicecandidate = (e) => {
        if (!e.candidate?.candidate) return;
        masterCandTypes.push(typ(e.candidate.candidate));
        master.sendIceCandidate(e.candidate, viewerId);
      };
      const track = source.createTrack();
      tracks.push(track);
      pc.addTrack(track, new wrtc.MediaStream());
      await pc.setRemoteDescription(offer);
      await pc.setLocalDescription(await pc.createAnswer());
      master.sendSdpAnswer({ type: 'answer', sdp: pc.localDescription?.sdp ?? '' }, viewerId);
      for (const c of pendingForMaster.splice(0)) await pc.addIceCandidate(c);
    })();
  });
  await master.open();

  // --- viewer: the official JS SDK signaling + a libwebrtc receiver ----------------------
  const ep = await cp.getEndpoints('VIEWER');
  const kvsSig = new KinesisVideoSignalingClient({ region: svc.region, endpoint: ep.https, credentials: svc.credentials, requestHandler: { httpsAgent: { ca: svc.caCert } } });
  t.teardown(() => kvsSig.destroy());
  const ice = await kvsSig.send(new GetIceServerConfigCommand({ ChannelARN: ep.channelArn, ClientId: 'wrtc-viewer' }));
  const viewerIce: IceServer[] = (ice.IceServerList ?? []).map((s) => ({
    urls: s.Uris ?? [],
    ...(s.Username ? { username: s.Username } : {}),
    ...(s.Password ? { credential: s.Password } : {}),
  }));
  const viewerPc = new wrtc.RTCPeerConnection({ iceServers: viewerIce, iceTransportPolicy: 'relay' });
  const states: string[] = [];
  viewerPc.onconnectionstatechange = () => states.push(viewerPc.connectionState);
  let frames = 0;
  let sink: { stop(): void; onframe: ((e: { frame: { width: number } }) => void) | null } | undefined;
  viewerPc.ontrack = (e) => {
    tracks.push(e.track);
    if (e.track.kind !== 'video' || sink) return;
    sink = new wrtc.nonstandard.RTCVideoSink(e.track);
    sink.onframe = () => frames++;
  };
  // libwebrtc is particular about teardown: sinks, then the sending source, then tracks, then
  // peer connections (any other order aborted the process at exit here).
  t.teardown(() => {
    if (sink) {
      sink.onframe = null;
      sink.stop();
    }
    clearInterval(pump);
    for (const x of tracks) x.stop();
    viewerPc.close();
    masterPc?.close();
  });
  const viewer = new SdkSignalingClient({
    channelARN: ep.channelArn,
    channelEndpoint: ep.wss,
    clientId: 'wrtc-viewer',
    role: Role.VIEWER,
    region: svc.region,
    credentials: svc.credentials,
  });
  t.teardown(() => viewer.close());
  const viewerCandTypes: string[] = [];
  viewer.on('sdpAnswer', (a: { type: string; sdp: string }) => void viewerPc.setRemoteDescription(a));
  viewer.on('iceCandidate', (c: Cand) => void viewerPc.addIceCandidate(c));
  viewerPc.onicecandidate = (e) => {
    if (!e.candidate?.candidate) return;
    viewerCandTypes.push(typ(e.candidate.candidate));
    viewer.sendIceCandidate(e.candidate as never);
  };
  const opened = next(viewer, 'open');
  viewer.open();
  await opened;
  viewerPc.addTransceiver('video', { direction: 'recvonly' });
  await viewerPc.setLocalDescription(await viewerPc.createOffer());
  viewer.sendSdpOffer(viewerPc.localDescription as never);

  t.ok(await waitFor(() => viewerPc.connectionState === 'connected', 30_000), `viewer connected (states: ${states.join(',')})`);
  t.ok(await waitFor(() => frames >= 20, 30_000), `video frames arrive through TURN (${frames})`);
  t.ok(masterCandTypes.length > 0 && masterCandTypes.every((x) => x === 'relay'), `master offered only relay candidates (${masterCandTypes.join(',')})`);
  t.ok(viewerCandTypes.length > 0 && viewerCandTypes.every((x) => x === 'relay'), `viewer offered only relay candidates (${viewerCandTypes.join(',')})`);
  let pairLocalType: unknown;
  const stats = await viewerPc.getStats();
  const locals = new Map<string, unknown>();
  let selectedLocal: unknown;
  stats.forEach((s) => {
    if (s['type'] === 'local-candidate') locals.set(String(s['id']), s['candidateType']);
    if (s['type'] === 'candidate-pair' && s['state'] === 'succeeded' && s['nominated']) selectedLocal = s['localCandidateId'];
  });
  pairLocalType = locals.get(String(selectedLocal));
  t.equal(pairLocalType, 'relay', 'the selected candidate pair goes through the relay');

  // GO_AWAY in the middle of the stream
  const before = frames;
  const stateCountBefore = states.length;
  const reopened = next<[{ reason: string }]>(master, 'open');
  svc.goAway('cam');
  t.equal((await reopened)[0].reason, 'GO_AWAY', 'the master reconnected its signaling after GO_AWAY');
  t.ok(await waitFor(() => frames >= before + 30, 30_000), `frames kept arriving (${before} -> ${frames})`);
  t.same(states.slice(stateCountBefore), [], 'the media connection never changed state');
  t.equal(viewerPc.connectionState, 'connected');
});

// @roamhq/wrtc 0.10 either keeps the process alive or crashes in its static destructors when a
// process that used RTCVideoSource/RTCVideoSink ends by itself (checked in isolation: every
// order of stopping sinks, tracks and peer connections). Ending through process.exit() after
// tap's teardown is clean, and keeps the exit code tap set.
t.teardown(() => {
  setTimeout(() => process.exit(process.exitCode ?? 0), 300);
});
