// End to end over the local KVS service: the native engine (ts/native) as the master, answering
// headless Chromium whose signaling is the official KVS JavaScript SDK (its browser bundle,
// unmodified) over WSS with SigV4. Chromium's own decoder counts the frames. Then GO_AWAY in the
// middle of the stream: our signaling reconnects and the frames do not stop.
import t from 'tap';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startLocalService, type LocalKvsService } from '../../ts/local/index.js';
import type { ControlPlane, IceCandidate, IceServer, SessionDescription } from '../../ts/kvs/index.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../peers/chromium.js';
import { ourClient, waitFor } from './helpers.js';

const ADDON = new URL('../../build/Release/kvs_edge.node', import.meta.url);
const SDK_BUNDLE = createRequire(import.meta.url).resolve('amazon-kinesis-video-streams-webrtc/dist/kvs-webrtc.min.js');

interface ViewerStats {
  frames: number;
  width: number;
  height: number;
  state: string;
  errors: string[];
}

// Runs in the page: KVS JS SDK viewer + the browser's RTCPeerConnection, receive-only video.
const VIEWER_SCRIPT = `async (cfg) => {
  const v = (window.__v = { errors: [], state: 'new' });
  const sc = new KVSWebRTC.SignalingClient({
    channelARN: cfg.channelArn, channelEndpoint: cfg.wss, clientId: cfg.clientId,
    role: KVSWebRTC.Role.VIEWER, region: cfg.region, credentials: cfg.credentials, systemClockOffset: 0,
  });
  const pc = new RTCPeerConnection({ iceServers: cfg.iceServers });
  v.pc = pc; v.sc = sc;
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.onicecandidate = ({ candidate }) => { if (candidate) sc.sendIceCandidate(candidate); };
  pc.onconnectionstatechange = () => { v.state = pc.connectionState; };
  sc.on('open', async () => {
    await pc.setLocalDescription(await pc.createOffer());
    sc.sendSdpOffer(pc.localDescription);
  });
  sc.on('sdpAnswer', (answer) => pc.setRemoteDescription(answer).catch((e) => v.errors.push('answer: ' + e)));
  sc.on('iceCandidate', (c) => pc.addIceCandidate(c).catch((e) => v.errors.push('candidate: ' + e)));
  sc.on('error', (e) => v.errors.push('signaling: ' + ((e && e.message) || e)));
  sc.open();
}`;

const STATS_SCRIPT = `async () => {
  const v = window.__v;
  const r = await v.pc.getStats();
  let frames = 0, width = 0, height = 0;
  r.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') { frames = s.framesDecoded || 0; width = s.frameWidth || 0; height = s.frameHeight || 0; } });
  return { frames, width, height, state: v.state, errors: v.errors };
}`;

async function stats(page: Page): Promise<ViewerStats> {
  return (await page.evaluate(`(${STATS_SCRIPT})()`)) as ViewerStats;
}

const ready = existsSync(CHROMIUM_PATH) && existsSync(ADDON);
const SKIP = !ready && 'needs /usr/bin/chromium and build/Release/kvs_edge.node';

type Tap = { teardown(fn: () => unknown): void };

/** The camera: our signaling client as master + the native engine, one PeerConnection per viewer. */
async function engineMaster(t: Tap, svc: LocalKvsService) {
  const { PeerConnection, VideoTrack } = await import('../../ts/native/index.js');
  const track = new VideoTrack({ width: 320, height: 240, fps: 30, bitrateKbps: 500 });
  const peers = new Map<string, InstanceType<typeof PeerConnection>>();
  t.teardown(() => {
    for (const pc of peers.values()) pc.close();
    track.close();
  });
  const { cp, client: master } = await ourClient(svc, 'cam', 'MASTER');
  t.teardown(() => {
    master.close();
    cp.close();
  });
  const early = new Map<string, IceCandidate[]>();
  const errors: string[] = [];
  master.on('iceCandidate', (c: IceCandidate, from: string) => {
    const pc = peers.get(from);
    if (pc) pc.addRemoteCandidate(c);
    else early.set(from, [...(early.get(from) ?? []), c]);
  });
  master.on('sdpOffer', (offer: SessionDescription, viewerId: string) => {
    void (async () => {
      try {
        const iceServers = await cp.getIceServers('MASTER');
        const pc = new PeerConnection({ id: viewerId, iceServers });
        peers.get(viewerId)?.close();
        peers.set(viewerId, pc);
        pc.addTrack(track);
        pc.on('candidate', (c) => {
          if (c.candidate) master.sendIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null }, viewerId);
        });
        const answer = await pc.setRemoteOffer(offer.sdp);
        master.sendSdpAnswer({ type: 'answer', sdp: answer }, viewerId);
        for (const c of early.get(viewerId) ?? []) pc.addRemoteCandidate(c);
        early.delete(viewerId);
      } catch (err) {
        errors.push(String(err));
      }
    })();
  });
  await master.open();
  return { cp, master, errors };
}

/** A Chromium page whose signaling is the KVS JS SDK bundle, as viewer `clientId`. */
async function chromiumViewer(t: Tap, browser: Browser, cp: ControlPlane, svc: LocalKvsService, clientId: string): Promise<Page> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  const page = await context.newPage();
  // WebCrypto (SigV4 in the SDK) needs a secure context: an http://127.0.0.1 page is one.
  const pageServer = createServer((_req, res) => res.end('<!doctype html><title>viewer</title>'));
  await new Promise<void>((r) => pageServer.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => pageServer.close(() => r())));
  await page.goto(`http://127.0.0.1:${(pageServer.address() as AddressInfo).port}/`);
  await page.addScriptTag({ path: SDK_BUNDLE });
  const ep = await cp.getEndpoints('VIEWER');
  const iceServers: IceServer[] = await cp.getIceServers('VIEWER', clientId);
  await page.evaluate(`(${VIEWER_SCRIPT})(${JSON.stringify({ channelArn: ep.channelArn, wss: ep.wss, clientId, region: svc.region, credentials: svc.credentials, iceServers })})`);
  return page;
}

async function framesAtLeast(page: Page, n: number, ms: number): Promise<ViewerStats> {
  let s: ViewerStats = { frames: 0, width: 0, height: 0, state: '', errors: [] };
  await waitFor(() => s.frames >= n, ms, async () => {
    s = await stats(page);
  });
  return s;
}

t.test('native engine master answers Chromium driven by the KVS JS SDK through the local service; GO_AWAY does not stop the media', { skip: SKIP }, async (t) => {
  const svc = await startLocalService({ tls: true, turn: false, channels: ['cam'], closeGraceMs: 50 });
  t.teardown(() => svc.close());
  const { cp, master, errors } = await engineMaster(t, svc);
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout: 60_000 });
  t.teardown(() => browser.close());
  const page = await chromiumViewer(t, browser, cp, svc, 'chromium-1');

  let s = await framesAtLeast(page, 30, 40_000);
  t.ok(s.frames >= 30, `Chromium decoded frames from the engine (${s.frames}, state ${s.state}, errors ${s.errors.join('; ')}, master errors ${errors.join('; ')})`);
  t.equal(s.width, 320);
  t.equal(s.height, 240);
  t.same(s.errors, [], 'no error in the page');

  const before = s.frames;
  let disconnects = 0;
  master.on('disconnected', () => disconnects++);
  const reopened = new Promise<string>((resolve) => master.once('open', (i) => resolve(i.reason)));
  svc.goAway('cam');
  t.equal(await reopened, 'GO_AWAY', 'the master reconnected after GO_AWAY');
  s = await framesAtLeast(page, before + 60, 30_000);
  t.ok(s.frames >= before + 60, `frames kept coming after GO_AWAY (${before} -> ${s.frames})`);
  t.equal(s.state, 'connected');
  t.equal(disconnects, 0);
  t.same(errors, []);
});

t.test('the service is killed and restarted: media to the current viewer goes on, the master comes back, a new Chromium viewer gets frames', { skip: SKIP }, async (t) => {
  const svc = await startLocalService({ tls: true, turn: false, channels: ['cam'], closeGraceMs: 50 });
  let svc2: LocalKvsService | undefined;
  t.teardown(async () => {
    await svc.close();
    await svc2?.close();
  });
  const { cp, master, errors } = await engineMaster(t, svc);
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout: 60_000 });
  t.teardown(() => browser.close());
  const first = await chromiumViewer(t, browser, cp, svc, 'chromium-a');
  let s = await framesAtLeast(first, 30, 40_000);
  t.ok(s.frames >= 30, `first viewer decodes frames (${s.frames})`);

  const down = new Promise((r) => master.once('disconnected', r));
  await svc.kill();
  await down;
  const during = s.frames;
  s = await framesAtLeast(first, during + 30, 30_000);
  t.ok(s.frames >= during + 30, `media kept flowing while the service was down (${during} -> ${s.frames})`);

  const back = new Promise<boolean>((r) => master.once('open', (i) => r(i.reconnect)));
  svc2 = await startLocalService({ port: svc.port, credentials: svc.credentials, ...(svc.pki ? { pki: svc.pki } : {}), tls: true, turn: false, channels: ['cam'], closeGraceMs: 50 });
  t.equal(await back, true, 'the master reconnected to the restarted service');
  const second = await chromiumViewer(t, browser, cp, svc2, 'chromium-b');
  const s2 = await framesAtLeast(second, 30, 40_000);
  t.ok(s2.frames >= 30, `a new viewer after the restart decodes frames (${s2.frames}, errors ${s2.errors.join('; ')})`);
  t.same(errors, [], 'no error on the master side');
});
