// Audio from an Ogg Opus file and talk-back into a playback command, with aiortc as the viewer.
// - A file of 20 ms packets is sent as it is (passthrough), one of 60 ms packets is decoded and
//   re-encoded into 20 ms frames; aiortc decodes what arrives and reports the file's 523 Hz tone.
// - A viewer that offers only PCMU gets the file decoded and encoded as G.711; G.711 is encoded
//   only while such a viewer listens (an Opus viewer alone leaves the G.711 counter at 0).
// - Talk-back into `tee FILE` (argv, no shell): the file holds s16le 48 kHz mono with the
//   viewer's 660 Hz tone; into `head -c 48000`, which exits after 0.5 s each time: it is
//   restarted with backoff and the audio meanwhile is dropped and counted.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { AudioTrack } from '../../ts/native/index.js';
import type { AudioSinkOptions, AudioTrackOptions, PeerStats } from '../../ts/native/index.js';
import { dominantFrequency, loudest, onlyAudioCodec, rms } from '../peers3/audio-analysis.js';
import { ProcessViewer, peerScript, type Message } from '../peers3/process-viewer.js';
import { MIN_FRAMES, WITHIN_MS, connect, enginePeer, videoTrack } from './session.js';

const FILE_TONE = 523;
const WAIT_MS = 30_000;

function tmp(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-audio-file-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** 3 s of a FILE_TONE sine as Ogg Opus made by GStreamer's opusenc, in packets of frameMs. */
function makeOgg(path: string, frameMs: number): void {
  const r = spawnSync('gst-launch-1.0', ['-q', 'audiotestsrc', 'wave=sine', `freq=${FILE_TONE}`, 'volume=0.4', 'num-buffers=150', 'samplesperbuffer=960', '!', 'audio/x-raw,rate=48000,channels=1', '!', 'opusenc', `frame-size=${frameMs}`, '!', 'oggmux', '!', 'filesink', `location=${path}`], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`gst-launch failed: ${r.stderr}`);
}

interface Run {
  viewer: ProcessViewer;
  audio: AudioTrack;
  stats: () => Promise<PeerStats>;
  answer: string;
}

/** aiortc (video + audio) connected to an engine peer with `audio` and an optional sink. */
async function run(t: Test, audioOptions: AudioTrackOptions, opts: { sink?: AudioSinkOptions; viewerArgs?: string[]; editOffer?: (s: string) => string } = {}): Promise<Run | null> {
  const audio = new AudioTrack(audioOptions);
  t.teardown(() => audio.close());
  const pc = enginePeer(t, videoTrack(t), opts.sink ? { audioSink: opts.sink } : {});
  pc.addTrack(audio);
  const viewer = new ProcessViewer('aiortc', [peerScript('aiortc_viewer.py'), ...(opts.viewerArgs ?? [])], 'aiortc audio');
  t.teardown(() => viewer.close());
  const conn = await connect(viewer, pc, opts.editOffer ? { editOffer: opts.editOffer } : {});
  try {
    await viewer.waitForFrames(MIN_FRAMES, WITHIN_MS * 3);
  } catch (err) {
    t.fail(String(err), { log: viewer.log, stderr: viewer.stderr(), answer: conn.answer });
    return null;
  }
  return { viewer, audio, stats: () => pc.getStats(), answer: conn.answer };
}

async function heard(t: Test, viewer: ProcessViewer, frames: number): Promise<Message | undefined> {
  await viewer.until(() => Number(viewer.receivedOf('audio').at(-1)?.['frames'] ?? 0) >= frames, WAIT_MS);
  const last = viewer.receivedOf('audio').at(-1);
  t.ok(Number(last?.['frames'] ?? 0) >= frames, `aiortc decoded ${String(last?.['frames'] ?? 0)} audio frames at ${String(last?.['rate'])} Hz`, { log: viewer.log });
  return last;
}

for (const frameMs of [20, 60]) {
  t.test(`Ogg Opus file of ${frameMs} ms packets to aiortc: ${frameMs === 20 ? 'passed through' : 're-encoded'}`, async (t) => {
    const dir = tmp(t);
    const path = join(dir, `tone-${frameMs}.ogg`);
    makeOgg(path, frameMs);
    const r = await run(t, { source: 'ogg', path });
    if (!r) return;
    const last = await heard(t, r.viewer, 200); // 4 s: the 3 s file looped at least once
    t.ok(Number(last?.['rms'] ?? 0) > 1000, `not silence (RMS ${String(last?.['rms'])})`);
    t.ok(Math.abs(Number(last?.['freq'] ?? 0) - FILE_TONE) <= 10, `dominant frequency ${String(last?.['freq'])} Hz is the file's ${FILE_TONE} Hz`);
    const s = r.audio.stats();
    t.equal(s.passthrough, frameMs === 20, frameMs === 20 ? 'packets sent as they are' : 'packets decoded and re-encoded');
    t.ok(s.loops >= 1, `the file looped (${s.loops})`);
    t.equal(s.g711Subscribers, 0, 'no G.711 viewer');
    t.equal(s.g711Frames, 0, 'so no G.711 was encoded');
    t.ok((await r.stats()).audioPacketsSent >= 200, 'engine sent the packets');
  });
}

t.test('Ogg Opus file to a PCMU-only aiortc viewer: decoded, resampled, G.711', async (t) => {
  const dir = tmp(t);
  const path = join(dir, 'tone.ogg');
  makeOgg(path, 20);
  const r = await run(t, { source: 'ogg', path }, { editOffer: (sdp) => onlyAudioCodec(sdp, 'PCMU') });
  if (!r) return;
  t.match(r.answer, /a=rtpmap:0 PCMU\/8000/, 'PCMU answered');
  const last = await heard(t, r.viewer, 150);
  t.equal(last?.['rate'], 8000, 'aiortc decoded 8 kHz G.711');
  t.ok(Number(last?.['rms'] ?? 0) > 1000, `not silence (RMS ${String(last?.['rms'])})`);
  t.ok(Math.abs(Number(last?.['freq'] ?? 0) - FILE_TONE) <= 10, `dominant frequency ${String(last?.['freq'])} Hz is the file's ${FILE_TONE} Hz`);
  const s = r.audio.stats();
  t.equal(s.g711Subscribers, 1, 'one G.711 subscriber');
  t.ok(s.g711Frames >= 150, `G.711 encoded for it (${s.g711Frames} frames)`);
  t.equal(s.passthrough, true, 'Opus still passed through (decoded only for G.711)');
});

t.test('talk-back into a playback command: `tee FILE` gets s16le 48 kHz mono of the viewer\'s tone', async (t) => {
  const dir = tmp(t);
  const out = join(dir, 'played.raw');
  const r = await run(t, { frequency: 440 }, { sink: { command: ['tee', out] }, viewerArgs: ['--send-tone=660'] });
  if (!r) return;
  let s = await r.stats();
  for (const end = Date.now() + WAIT_MS; s.audioSinkPackets < 150 && Date.now() < end; s = await r.stats()) await new Promise((res) => setTimeout(res, 200));
  t.ok(s.audioSinkPackets >= 150, `sink took ${s.audioSinkPackets} packets`);
  t.equal(s.audioSinkDropped, 0, 'nothing dropped');
  t.equal(s.audioSinkRestarts, 0, 'tee never exited');
  await r.viewer.close();
  await new Promise((res) => setTimeout(res, 500));
  const bytes = readFileSync(out);
  t.ok(bytes.length >= s.audioSinkBytes - 4096 && bytes.length > 150 * 1920, `tee wrote ${bytes.length} bytes (engine counted ${s.audioSinkBytes})`);
  const samples = new Float64Array(Math.floor(bytes.length / 2));
  for (let i = 0; i < samples.length; i++) samples[i] = bytes.readInt16LE(2 * i);
  const part = loudest(samples, 48000, 1);
  t.ok(rms(part) > 1000, `not silence (RMS ${rms(part).toFixed(0)})`);
  const f = dominantFrequency(part, 48000);
  t.ok(Math.abs(f - 660) <= 10, `dominant frequency ${f} Hz is the viewer's 660 Hz (so: 48 kHz mono s16le)`);
});

t.test('talk-back into a command that exits: restarted with backoff, the gap dropped and counted', async (t) => {
  const r = await run(t, { frequency: 440 }, { sink: { command: ['head', '-c', '48000'] }, viewerArgs: ['--send-tone=660'] });
  if (!r) return;
  let s = await r.stats();
  for (const end = Date.now() + WAIT_MS; (s.audioSinkRestarts < 2 || s.audioSinkPackets < 200) && Date.now() < end; s = await r.stats()) await new Promise((res) => setTimeout(res, 200));
  t.ok(s.audioSinkRestarts >= 2, `the command was restarted ${s.audioSinkRestarts} times`);
  t.ok(s.audioSinkDropped > 0, `${s.audioSinkDropped} packets dropped while it was down`);
  t.ok(s.audioSinkRestarts < s.audioSinkPackets / 10, `backoff: ${s.audioSinkRestarts} restarts for ${s.audioSinkPackets} packets`);
  t.equal((await r.stats()).state, 'connected', 'the call goes on');
});
