// Two-way audio with Chromium: the engine's Opus tone is heard by the viewer (audio energy at
// the receiver), and the viewer's microphone (Chromium's fake device beeps) lands in a WAV file.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import t from 'tap';
import { AudioTrack, PeerConnection, VideoTrack } from '../../ts/native/index.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../peers/chromium.js';
import { setPageAnswer, trickleWithPage, type PageWindow } from './chromium-viewer.js';
import { onlyAudioCodec } from '../peers3/audio-analysis.js';

/** RMS of 16-bit PCM samples in a WAV file's data chunk, with its declared sample count. */
function wavStats(path: string): { channels: number; rate: number; samples: number; rms: number } {
  const b = readFileSync(path);
  if (b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE') throw new Error('not a WAV file');
  const channels = b.readUInt16LE(22);
  const rate = b.readUInt32LE(24);
  const dataBytes = b.readUInt32LE(40);
  if (44 + dataBytes !== b.length) throw new Error(`data size ${dataBytes} does not match the file (${b.length} bytes)`);
  let sum = 0;
  const n = dataBytes / 2;
  for (let i = 0; i < n; i++) {
    const s = b.readInt16LE(44 + 2 * i);
    sum += s * s;
  }
  return { channels, rate, samples: n / channels, rms: Math.sqrt(sum / Math.max(1, n)) };
}

for (const codec of ['opus', 'PCMU', 'PCMA'] as const) t.test(`${codec} both ways with Chromium: tone to the viewer, microphone to a WAV file`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-audio-'));
  const sinkPath = join(dir, 'talkback.wav');
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [...CHROMIUM_ARGS, '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required'],
  });
  const video = new VideoTrack({ width: 320, height: 240, fps: 15, bitrateKbps: 200 });
  const audio = new AudioTrack({ frequency: 440 });
  const pc = new PeerConnection({ audioSink: { path: sinkPath } });
  pc.addTrack(video);
  pc.addTrack(audio);
  t.teardown(async () => {
    pc.close();
    video.close();
    audio.close();
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  });
  // getUserMedia needs a secure context: a page from http://127.0.0.1 is one.
  const server = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/html' }); res.end('<!doctype html><title>viewer</title>'); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  if (codec !== 'opus') {
    const source = onlyAudioCodec.toString();
    await page.evaluate(([src, c]) => {
      // eslint-disable-next-line no-new-func
      const fn = new Function(`return (${src})`)() as (s: string, c: string) => string;
      (window as unknown as { munge(s: string): string }).munge = (s: string) => fn(s, c);
    }, [source, codec] as const);
  }
  await trickleWithPage(page, pc);
  const offer = await page.evaluate(async () => {
    const w = window as unknown as PageWindow;
    w.v = new RTCPeerConnection();
    w.pending = [];
    w.v.onicecandidate = (e) => { if (e.candidate) w.toEngine(e.candidate.toJSON()); };
    w.v.addTransceiver('video', { direction: 'recvonly' });
    const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
    w.v.addTransceiver(mic.getAudioTracks()[0]!, { direction: 'sendrecv' });
    w.v.ontrack = (e) => {
      if (e.track.kind !== 'audio') return;
      // Remote audio flows into WebAudio once an element plays it; an analyser measures it.
      const stream = new MediaStream([e.track]);
      const el = new Audio();
      el.srcObject = stream;
      el.muted = true;
      void el.play();
      const ctx = new AudioContext();
      const analyser = ctx.createAnalyser();
      ctx.createMediaStreamSource(stream).connect(analyser);
      void ctx.resume();
      const buf = new Float32Array(analyser.fftSize);
      (window as unknown as { peakRms: number }).peakRms = 0;
      setInterval(() => {
        analyser.getFloatTimeDomainData(buf);
        let sum = 0;
        for (const x of buf) sum += x * x;
        const rms = Math.sqrt(sum / buf.length);
        const g = window as unknown as { peakRms: number };
        if (rms > g.peakRms) g.peakRms = rms;
      }, 50);
    };
    const o = await w.v.createOffer();
    const sdp = (window as unknown as { munge(s: string): string | undefined }).munge?.(o.sdp ?? '') ?? o.sdp ?? '';
    await w.v.setLocalDescription({ type: 'offer', sdp });
    return sdp;
  });
  const answer = await pc.setRemoteOffer(offer);
  t.match(answer, /m=audio [1-9]\d* UDP\/TLS\/RTP\/SAVPF \d+/, 'audio accepted');
  t.match(answer, codec === 'opus' ? /a=rtpmap:\d+ opus\/48000\/2/i : new RegExp(`a=rtpmap:\\d+ ${codec}/8000`), `with ${codec}`);
  t.match(answer, /m=audio[\s\S]*a=sendrecv/, 'both ways');
  await setPageAnswer(page, answer);

  const readAudio = () => page.evaluate(async () => {
    const w = window as unknown as PageWindow;
    const r = { samples: 0, energy: (window as unknown as { peakRms?: number }).peakRms ?? 0, packets: 0, codec: '' };
    const stats = await w.v.getStats();
    stats.forEach((s: { type: string; kind?: string; totalSamplesReceived?: number; totalAudioEnergy?: number; packetsReceived?: number; codecId?: string }) => {
      if (s.type === 'inbound-rtp' && s.kind === 'audio') {
        r.samples = s.totalSamplesReceived ?? 0;
        r.packets = s.packetsReceived ?? 0;
        const codec = s.codecId ? (stats.get(s.codecId) as { mimeType?: string } | undefined) : undefined;
        r.codec = codec?.mimeType ?? '';
      }
    });
    return r;
  });
  let heard = await readAudio();
  for (let i = 0; i < 50 && (heard.packets < 100 || heard.energy <= 0.05); i++) {
    await new Promise((r) => setTimeout(r, 200));
    heard = await readAudio();
  }
  t.ok(heard.packets >= 100, `the viewer received the engine's audio (${heard.packets} packets)`);
  t.match(heard.codec, new RegExp(codec, 'i'), `as ${codec}`);
  t.ok(heard.energy > 0.05, `and it is the tone, not silence (peak RMS ${heard.energy.toFixed(3)} at the viewer)`);

  let stats = await pc.getStats();
  for (let i = 0; i < 50 && stats.audioPacketsReceived < 100; i++) {
    await new Promise((r) => setTimeout(r, 200));
    stats = await pc.getStats();
  }
  t.ok(stats.audioPacketsReceived >= 100, `the engine received the viewer's audio (${stats.audioPacketsReceived} packets)`);
  t.ok(stats.audioPacketsSent >= 100, `and sent its own (${stats.audioPacketsSent} packets)`);
  pc.close();
  await new Promise((r) => setTimeout(r, 300));  // the sink is finalized on the network thread
  const wav = wavStats(sinkPath);
  t.equal(wav.rate, 48000);
  t.equal(wav.channels, 2);
  t.ok(wav.samples >= 48000, `at least a second of talk-back in the WAV file (${(wav.samples / 48000).toFixed(2)} s)`);
  t.ok(wav.rms > 100, `the talk-back is not silence (RMS ${wav.rms.toFixed(0)})`);
});

t.test('an audio offer with neither Opus nor G.711 is answered inactive, not failed', async (t) => {
  const audio = new AudioTrack();
  const pc = new PeerConnection();
  pc.addTrack(audio);
  t.teardown(() => { pc.close(); audio.close(); });
  const offer = ['v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0', 'm=audio 9 UDP/TLS/RTP/SAVPF 9', 'c=IN IP4 0.0.0.0',
    'a=mid:0', 'a=ice-ufrag:abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx',
    'a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF',
    'a=setup:actpass', 'a=rtcp-mux', 'a=sendrecv', 'a=rtpmap:9 G722/8000', ''].join('\r\n');
  const answer = await pc.setRemoteOffer(offer);
  t.match(answer, /a=inactive/);
});

t.test('audio options are checked', async (t) => {
  t.throws(() => new AudioTrack({ frequency: 5 }), /frequency=5/);
  t.throws(() => new AudioTrack({ channels: 3 as 2 }), /channels=3/);
  t.throws(() => new PeerConnection({ audioSink: { path: '' } }), /audioSink\.path/);
});

t.test('a raw PCM file source reaches an engine viewer, decoded into its WAV sink', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kvs-pcm-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // 0.5 s of a 1 kHz sine, 48 kHz s16le stereo, at half scale: the file loops.
  const pcm = Buffer.alloc(24000 * 4);
  for (let i = 0; i < 24000; i++) {
    const v = Math.round(0.5 * 32767 * Math.sin((2 * Math.PI * 1000 * i) / 48000));
    pcm.writeInt16LE(v, 4 * i);
    pcm.writeInt16LE(v, 4 * i + 2);
  }
  const source = join(dir, 'voice.raw');
  writeFileSync(source, pcm);
  const sink = join(dir, 'heard.wav');
  const audio = new AudioTrack({ source: 'pcm', path: source });
  const camera = new PeerConnection({ id: 'pcm-camera' });
  camera.addTrack(audio);
  const viewer = new PeerConnection({ id: 'pcm-viewer', audioSink: { path: sink } });
  t.teardown(() => { viewer.close(); camera.close(); audio.close(); });
  const early: { candidate: string; sdpMid?: string | null }[] = [];
  let answered = false;
  camera.on('candidate', (c) => { if (answered) viewer.addRemoteCandidate(c); else early.push(c); });
  viewer.on('candidate', (c) => camera.addRemoteCandidate(c));
  const offer = await viewer.createOffer({ video: false, audio: 'recvonly' });
  const answer = await camera.setRemoteOffer(offer);
  t.match(answer, /m=audio [\s\S]*a=sendonly/, 'the camera sends audio');
  await viewer.setRemoteAnswer(answer);
  answered = true;
  for (const c of early.splice(0)) viewer.addRemoteCandidate(c);
  let s = await viewer.getStats();
  for (let i = 0; i < 60 && s.audioPacketsReceived < 75; i++) {
    await new Promise((r) => setTimeout(r, 100));
    s = await viewer.getStats();
  }
  t.ok(s.audioPacketsReceived >= 75, `1.5 s of Opus received (${s.audioPacketsReceived} packets)`);
  viewer.close();
  await new Promise((r) => setTimeout(r, 300));
  const wav = wavStats(sink);
  t.ok(wav.samples >= 48000, `over a second decoded (${(wav.samples / 48000).toFixed(2)} s)`);
  t.ok(wav.rms > 0.5 * 32767 / Math.SQRT2 * 0.7, `at the file's level (RMS ${wav.rms.toFixed(0)}), not silence`);
  t.throws(() => new AudioTrack({ source: 'pcm', path: join(dir, 'missing.raw') }), /path=.*missing\.raw.*cannot be read/);
});
