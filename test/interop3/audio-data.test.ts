// Two-way audio and data channels with aiortc and GStreamer webrtcbin (issue 3, "What it must
// show"): video + an Opus tone to the viewer, which decodes it and reports the level and dominant
// frequency; the viewer's own Opus tone back to the engine's talk-back sink (Ogg Opus file read
// back by GStreamer's oggdemux ! opusdec, or WAV), measured the same way; and a data channel
// echoing text and binary messages each way (the viewer's channel echoed by the engine, the
// engine's channel echoed by the viewer).
// webrtcbin runs with bundle-policy max-bundle: GStreamer 1.22 puts no BUNDLE group in a
// balanced offer, and the engine accepts only the first section of such an offer (docs/engine.md).
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { AudioTrack } from '../../ts/native/index.js';
import type { AudioSinkOptions, PeerStats } from '../../ts/native/index.js';
import { decodeOggOpus, dominantFrequency, loudest, readWav, rms, type Pcm } from '../peers3/audio-analysis.js';
import { ProcessViewer, peerScript, type Message } from '../peers3/process-viewer.js';
import { MIN_FRAMES, WITHIN_MS, connect, enginePeer, videoTrack } from './session.js';

const ENGINE_TONE = 440;
/** Generous: two cores shared by several agents. */
const WAIT_MS = 30_000;
/** Decoded audio frames (20 ms) the viewer must report before it is judged: 4 s. */
const AUDIO_FRAMES = 200;
const FREQ_TOLERANCE = 10;

interface Peer {
  name: string;
  viewer: () => ProcessViewer;
  viewerTone: number;
  sink: 'ogg' | 'wav';
}

const peers: Peer[] = [
  {
    name: 'aiortc',
    viewer: () => new ProcessViewer('aiortc', [peerScript('aiortc_viewer.py'), '--send-tone=660', '--datachannel'], 'aiortc two-way'),
    viewerTone: 660,
    sink: 'ogg',
  },
  {
    name: 'GStreamer webrtcbin',
    viewer: () => new ProcessViewer('webrtcbin', [peerScript('gst_viewer.py'), '--bundle-policy=max-bundle', '--send-tone=880', '--datachannel'], 'webrtcbin two-way'),
    viewerTone: 880,
    sink: 'wav',
  },
];

function tmp(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-audio-interop-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function lastAudio(viewer: ProcessViewer): Message | undefined {
  return viewer.receivedOf('audio').at(-1);
}

function dcMessages(viewer: ProcessViewer, label: string): Message[] {
  return viewer.receivedOf('dc-message').filter((m) => m['label'] === label);
}

/** What a data channel message looks like once echoed: text as is, binary as base64. */
type Payload = { text: string } | { b64: string };
const payloadOf = (m: Message): Payload => (typeof m['text'] === 'string' ? { text: m['text'] } : { b64: String(m['b64']) });
const BINARY = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37) & 0xff)); // 0x00..0xff, longer than one 255-byte run

for (const peer of peers) {
  t.test(`${peer.name}: video + Opus both ways + data channel echo`, async (t) => {
    const dir = tmp(t);
    const sinkPath = join(dir, `talkback.${peer.sink}`);
    const video = videoTrack(t);
    const audio = new AudioTrack({ frequency: ENGINE_TONE });
    t.teardown(() => audio.close());
    const sink: AudioSinkOptions = { path: sinkPath };
    const pc = enginePeer(t, video, { audioSink: sink });
    pc.addTrack(audio);

    // Channels the engine opened are not echoed by it (the viewer echoes those).
    const engineOpened = new Set<number>();
    const echoedByViewer: (string | Buffer)[] = [];
    pc.on('datachannel-message', ({ id, data }) => {
      if (engineOpened.has(id)) echoedByViewer.push(data);
      else pc.sendData(id, data);
    });

    const viewer = peer.viewer();
    t.teardown(() => viewer.close());
    const diag = (): unknown => ({ log: viewer.log, received: viewer.received.slice(-20), stderr: viewer.stderr() });
    const connectAt = Date.now();
    const conn = await connect(viewer, pc);
    t.match(conn.answer, /^m=audio [1-9]\d* [^\r\n]*\r?\n(?:(?!m=)[^\r\n]*\r?\n)*a=sendrecv/m, 'audio answered sendrecv');
    t.match(conn.answer, /^m=application [1-9]/m, 'data channel section accepted');

    // (1) video still arrives
    try {
      const stats = await viewer.waitForFrames(MIN_FRAMES, WITHIN_MS * 3);
      t.ok(stats.frames >= MIN_FRAMES, `${stats.frames} video frames decoded`);
    } catch (err) {
      t.fail(`video: ${String(err)}`, { diag: diag(), offer: conn.offer, answer: conn.answer });
      return;
    }

    // (2) the engine's Opus tone, decoded by the viewer
    await viewer.until(() => Number(lastAudio(viewer)?.['frames'] ?? 0) >= AUDIO_FRAMES, WAIT_MS);
    const heard = lastAudio(viewer);
    t.ok(Number(heard?.['frames'] ?? 0) >= AUDIO_FRAMES, `viewer decoded ${String(heard?.['frames'] ?? 0)} Opus frames (${String(heard?.['samples'] ?? 0)} samples)`, { diag: diag() });
    t.ok(Number(heard?.['rms'] ?? 0) > 300, `the decoded audio is not silence (RMS ${String(heard?.['rms'])} over the last second)`);
    t.ok(Math.abs(Number(heard?.['freq'] ?? 0) - ENGINE_TONE) <= FREQ_TOLERANCE, `dominant frequency ${String(heard?.['freq'])} Hz is the engine's ${ENGINE_TONE} Hz tone`);

    // (3) the viewer's channel, echoed by the engine
    await viewer.until(() => viewer.receivedOf('dc-open').some((m) => m['origin'] === 'viewer'), WAIT_MS);
    t.ok(viewer.receivedOf('dc-open').some((m) => m['origin'] === 'viewer'), 'the viewer\'s data channel opened', { diag: diag() });
    const sent: Payload[] = [{ text: 'hello engine' }, { text: 'ünïcødé ✓' }, { b64: BINARY.toString('base64') }, { text: 'x'.repeat(5000) }];
    for (const p of sent) viewer.request({ type: 'dc-send', label: 'kvsDataChannel', ...p });
    await viewer.until(() => dcMessages(viewer, 'kvsDataChannel').length >= sent.length, WAIT_MS);
    t.same(dcMessages(viewer, 'kvsDataChannel').map(payloadOf), sent, 'the engine echoed every message, text and binary, in order');

    // (4) the engine's channel, echoed by the viewer
    const id = pc.createDataChannel('engine-echo');
    engineOpened.add(id);
    await viewer.until(() => viewer.receivedOf('dc-open').some((m) => m['origin'] === 'engine' && m['label'] === 'engine-echo'), WAIT_MS);
    t.ok(viewer.receivedOf('dc-open').some((m) => m['label'] === 'engine-echo'), 'the viewer saw the engine\'s channel open', { diag: diag() });
    const fromEngine: (string | Buffer)[] = ['ping 1', 'ping 2', BINARY];
    for (const m of fromEngine) pc.sendData(id, m);
    await viewer.until(() => echoedByViewer.length >= fromEngine.length, WAIT_MS);
    t.same(echoedByViewer.map((d) => (Buffer.isBuffer(d) ? d.toString('hex') : d)), fromEngine.map((d) => (Buffer.isBuffer(d) ? d.toString('hex') : d)), 'the viewer echoed every engine message, text and binary');
    t.same(dcMessages(viewer, 'engine-echo').map(payloadOf), [{ text: 'ping 1' }, { text: 'ping 2' }, { b64: BINARY.toString('base64') }], 'the viewer received them intact');

    // (5) the viewer's tone in the engine's talk-back sink
    let s: PeerStats = await pc.getStats();
    for (const end = Date.now() + WAIT_MS; s.audioPacketsReceived < 200 && Date.now() < end; ) {
      await new Promise((r) => setTimeout(r, 200));
      s = await pc.getStats();
    }
    t.ok(s.audioPacketsReceived >= 200, `engine received ${s.audioPacketsReceived} audio packets from the viewer`);
    t.ok(s.audioSinkPackets >= 200 && s.audioSinkBytes > 0, `sink took ${s.audioSinkPackets} packets, wrote ${s.audioSinkBytes} bytes`);
    const receivedSeconds = s.audioSamplesWritten / 48000;
    const connectedFor = (Date.now() - connectAt) / 1000;
    await viewer.close();
    pc.close(); // finalizes the file
    await new Promise((r) => setTimeout(r, 300));
    t.ok(statSync(sinkPath).size > 1000, `${sinkPath} written (${statSync(sinkPath).size} bytes)`);
    let pcm: Pcm;
    try {
      pcm = peer.sink === 'ogg' ? decodeOggOpus(sinkPath, join(dir, 'decoded.wav')) : readWav(sinkPath);
    } catch (err) {
      t.fail(`the talk-back file does not decode: ${String(err)}`);
      return;
    }
    const seconds = pcm.samples.length / pcm.rate;
    // At least the 200 packets waited for (4 s less concealment slack), at most the call's length.
    t.ok(seconds >= 3.5 && seconds <= connectedFor + 0.5, `talk-back lasts ${seconds.toFixed(2)} s (engine counted ${receivedSeconds.toFixed(2)} s; the call lasted ${connectedFor.toFixed(1)} s)`);
    const part = loudest(pcm.samples, pcm.rate, 1);
    const level = rms(part);
    const f = dominantFrequency(part, pcm.rate);
    t.ok(level > 300, `talk-back is not silence (RMS ${level.toFixed(0)})`);
    t.ok(Math.abs(f - peer.viewerTone) <= FREQ_TOLERANCE, `talk-back dominant frequency ${f} Hz is the viewer's ${peer.viewerTone} Hz tone`);
  });
}
