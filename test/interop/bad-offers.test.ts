// Offers a camera must refuse: each gets a NativeError whose code and message name the problem,
// nothing crashes, and a real viewer still connects and gets video afterwards in this process.
import t, { type Test } from 'tap';
import { NativeError, PeerConnection } from '../../ts/native/index.js';
import { ChromiumHost } from '../peers/chromium.js';
import { WeriftViewer } from '../peers/werift.js';
import { connectToEngine } from '../peers/viewer.js';
import { assertVideo, engine, streamToViewer, videoTrack } from './engine-session.js';

/** A real offer from headless Chromium (audio + video recvonly + data channel, as KVS viewers send). */
async function chromiumOffer(): Promise<string> {
  const host = await ChromiumHost.launch();
  try {
    const viewer = await host.newViewer({ audio: true, dataChannel: true });
    const sdp = await viewer.createOffer();
    await viewer.close();
    return sdp;
  } finally {
    await host.close();
  }
}

const offer = await chromiumOffer();
const EOL = offer.includes('\r\n') ? '\r\n' : '\n';

/** Chromium's offer with every H.264 payload type (and the RTX that repairs it) removed. */
function withoutH264(sdp: string): string {
  const lines = sdp.split(EOL);
  const h264 = new Set(lines.flatMap((l) => /^a=rtpmap:(\d+) H264\//i.exec(l)?.[1] ?? []));
  for (const l of lines) {
    const apt = /^a=fmtp:(\d+) apt=(\d+)/.exec(l);
    if (apt && h264.has(apt[2]!)) h264.add(apt[1]!);
  }
  return lines
    .filter((l) => {
      const pt = /^a=(?:rtpmap|fmtp|rtcp-fb):(\d+)/.exec(l)?.[1];
      return pt === undefined || !h264.has(pt);
    })
    .map((l) => (l.startsWith('m=video') ? l.split(' ').filter((f, i) => i < 3 || !h264.has(f)).join(' ') : l))
    .join(EOL);
}

// Every camera peer sends a track; one track (one encoder) serves all the refusals.
const track = videoTrack(t);

async function refusal(sdp: string): Promise<unknown> {
  const pc = new PeerConnection({ iceServers: [] });
  pc.addTrack(track);
  try {
    await pc.setRemoteOffer(sdp);
    return undefined;
  } catch (e) {
    return e;
  } finally {
    pc.close();
  }
}

function assertRefused(t: Test, err: unknown, codes: string[], names: RegExp): void {
  t.ok(err instanceof NativeError, `rejected with a NativeError (got ${err === undefined ? 'an answer' : String(err)})`);
  if (!(err instanceof NativeError)) return;
  t.ok(codes.includes(err.code), `code ${err.code} is one of ${codes.join(', ')}`);
  t.match(err.message, names, `message names the problem: "${err.message}"`);
}

t.test('garbage is a parse error', async (t) => {
  assertRefused(t, await refusal('hello, I am not an SDP'), ['ERR_SDP_PARSE'], /sdp|v=|line|parse/i);
  const bytes = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 197 + 13) % 256)).toString('latin1');
  assertRefused(t, await refusal(bytes), ['ERR_SDP_PARSE'], /sdp|v=|line|parse/i);
  assertRefused(t, await refusal(''), ['ERR_SDP_PARSE', 'ERR_INVALID_ARG'], /empty|sdp|v=/i);
});

t.test('an offer truncated before its credentials and fingerprint', async (t) => {
  const cut = offer.indexOf('a=ice-pwd:');
  t.ok(cut > 0, 'Chromium offer has ice-pwd');
  const truncated = offer.slice(0, cut + 'a=ice-pwd:'.length + 3);
  assertRefused(t, await refusal(truncated), ['ERR_SDP_PARSE', 'ERR_SDP_UNSUPPORTED'], /ice-pwd|ice-ufrag|fingerprint|truncat|missing|incomplete/i);
});

t.test('an offer truncated in the middle of its media section', async (t) => {
  const cut = offer.indexOf('a=fingerprint:');
  t.ok(cut > 0, 'Chromium offer has a fingerprint');
  const truncated = offer.slice(0, cut + 'a=fingerprint:sha-256 AB:'.length);
  // Cut before any rtpmap: nothing in it can carry H.264.
  assertRefused(t, await refusal(truncated), ['ERR_SDP_PARSE', 'ERR_SDP_UNSUPPORTED'], /fingerprint|truncat|incomplete|H\.?264/i);
});

t.test('an offer whose fingerprint is cut short', async (t) => {
  const cutShort = offer.replace(/^(a=fingerprint:sha-256 [0-9A-F]{2}:[0-9A-F]{2}):.*$/m, '$1');
  t.not(cutShort, offer, 'fingerprint edited');
  assertRefused(t, await refusal(cutShort), ['ERR_SDP_PARSE', 'ERR_SDP_UNSUPPORTED'], /fingerprint/i);
});

t.test('an offer without H.264 names H.264', async (t) => {
  const noH264 = withoutH264(offer);
  t.notMatch(noH264, /H264/i, 'edited offer has no H.264 left');
  t.match(noH264, /VP8\/90000/, 'but still offers VP8');
  assertRefused(t, await refusal(noH264), ['ERR_SDP_UNSUPPORTED'], /H\.?264/i);
});

t.test('an offer with no video section at all', async (t) => {
  const sections = offer.split(/(?=^m=)/m);
  const audioOnly = sections.filter((s) => !s.startsWith('m=video')).join('').replace(/a=group:BUNDLE[^\r\n]*/, 'a=group:BUNDLE 1 2');
  t.notMatch(audioOnly, /^m=video/m);
  assertRefused(t, await refusal(audioOnly), ['ERR_SDP_UNSUPPORTED'], /video/i);
});

t.test('after all of that a real viewer still gets video', async (t) => {
  const r = await streamToViewer(t, new WeriftViewer({ name: 'werift after bad offers' }));
  if (r) assertVideo(t, r);
});

t.test('a refused offer leaves the peer connection closable and the track usable', async (t) => {
  const { pc, track } = engine(t);
  const err = await pc.setRemoteOffer(withoutH264(offer)).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof NativeError, 'refused');
  pc.close();
  pc.close();
  t.pass('close() after a refused offer, twice, returns');
  const r = await streamToViewer(t, new WeriftViewer({ name: 'werift on the same track' }), { track });
  if (r) assertVideo(t, r);
});

// The fingerprint in the offer is what authenticates the viewer's DTLS certificate (RFC 8122 5).
// One flipped hex digit: the offer parses, but the handshake must not complete and no media
// may flow to a peer that does not hold the certificate the offer names.
t.test('a fingerprint that does not match the viewer certificate: DTLS fails, no video', async (t) => {
  const viewer = new WeriftViewer({ name: 'werift wrong fingerprint' });
  t.teardown(() => viewer.close());
  const { pc } = engine(t, { track });
  const flip = (sdp: string): string =>
    sdp.replace(/^(a=fingerprint:sha-256 )([0-9A-F])/im, (_m, head: string, d: string) => head + (d.toUpperCase() === 'A' ? 'B' : 'A'));
  const conn = await connectToEngine(viewer, pc, { editOffer: flip });
  t.not(conn.offer.match(/a=fingerprint:.*/)?.[0], undefined, 'offer still has a fingerprint');
  const bad = ['failed', 'closed', 'disconnected'];
  const deadline = Date.now() + 30_000;
  while (!conn.engineStates.some((s) => bad.includes(s)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(conn.engineStates.some((s) => bad.includes(s)), `engine peer gave up: ${conn.engineStates.join(' -> ')}`);
  t.notOk(conn.engineStates.includes('connected'), 'engine never reported connected');
  t.equal((await viewer.stats()).frames, 0, 'viewer received no video');
});
