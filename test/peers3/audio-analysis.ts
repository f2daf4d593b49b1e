// Reads what a talk-back sink wrote and measures it: WAV parsing, an Ogg Opus file decoded by a
// real decoder (GStreamer oggdemux ! opusdec through gst-launch-1.0), RMS level and the dominant
// frequency (Goertzel scan); and an offer edit that leaves one audio codec (a G.711-only client).
// onlyAudioCodec is self-contained: audio.test.ts runs it inside Chromium through toString().
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface Pcm {
  rate: number;
  channels: number;
  /** Mono (channels averaged), s16 scale. */
  samples: Float64Array;
}

/** A 16-bit PCM WAV file; throws naming what is wrong. Checks the header sizes match the file. */
export function readWav(path: string): Pcm {
  const b = readFileSync(path);
  if (b.length < 44 || b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE') throw new Error(`${path} is not a WAV file`);
  let off = 12;
  let rate = 0;
  let channels = 0;
  while (off + 8 <= b.length) {
    const id = b.toString('latin1', off, off + 4);
    let size = b.readUInt32LE(off + 4);
    if (id === 'fmt ') {
      if (b.readUInt16LE(off + 8) !== 1 || b.readUInt16LE(off + 22) !== 16) throw new Error(`${path}: not 16-bit PCM`);
      channels = b.readUInt16LE(off + 10);
      rate = b.readUInt32LE(off + 12);
    } else if (id === 'data') {
      // gst's wavenc streaming to a file may leave 0 or 0xffffffff when it cannot seek back
      if (size === 0 || off + 8 + size > b.length) size = b.length - off - 8;
      const frames = Math.floor(size / 2 / channels);
      const samples = new Float64Array(frames);
      for (let i = 0; i < frames; i++) {
        let sum = 0;
        for (let c = 0; c < channels; c++) sum += b.readInt16LE(off + 8 + 2 * (i * channels + c));
        samples[i] = sum / channels;
      }
      return { rate, channels, samples };
    }
    off += 8 + size + (size & 1);
  }
  throw new Error(`${path}: no data chunk`);
}

/** Decodes an Ogg Opus file with GStreamer (oggdemux ! opusdec) to 48 kHz mono PCM. */
export function decodeOggOpus(path: string, wavOut: string): Pcm {
  const r = spawnSync(
    'gst-launch-1.0',
    ['-q', 'filesrc', `location=${path}`, '!', 'oggdemux', '!', 'opusdec', '!', 'audioconvert', '!', 'audioresample', '!', 'audio/x-raw,format=S16LE,rate=48000,channels=1', '!', 'wavenc', '!', 'filesink', `location=${wavOut}`],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (r.status !== 0) throw new Error(`gst-launch could not decode ${path} (exit ${String(r.status)}): ${r.stderr} ${r.stdout}`);
  return readWav(wavOut);
}

export function rms(x: Float64Array): number {
  let s = 0;
  for (const v of x) s += v * v;
  return Math.sqrt(s / Math.max(1, x.length));
}

function goertzelPower(x: Float64Array, rate: number, f: number): number {
  const w = (2 * Math.PI * f) / rate;
  const k = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < x.length; i++) {
    const s0 = x[i]! + k * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return s1 * s1 + s2 * s2 - k * s1 * s2;
}

/** The frequency (50..4000 Hz) with the most energy in `x`: a 5 Hz scan, refined to 0.5 Hz. */
export function dominantFrequency(x: Float64Array, rate: number): number {
  let best = 0;
  let bestP = -1;
  for (let f = 50; f <= 4000; f += 5) {
    const p = goertzelPower(x, rate, f);
    if (p > bestP) [best, bestP] = [f, p];
  }
  const coarse = best;
  for (let f = coarse - 5; f <= coarse + 5; f += 0.5) {
    const p = goertzelPower(x, rate, f);
    if (p > bestP) [best, bestP] = [f, p];
  }
  return best;
}

/** The loudest `seconds`-long stretch (by 100 ms blocks), where a beeping tone is on. */
export function loudest(x: Float64Array, rate: number, seconds: number): Float64Array {
  const n = Math.min(x.length, Math.round(rate * seconds));
  const block = Math.round(rate / 10);
  let bestAt = 0;
  let bestE = -1;
  for (let at = 0; at + n <= x.length; at += block) {
    const e = rms(x.subarray(at, at + n));
    if (e > bestE) [bestAt, bestE] = [at, e];
  }
  return x.subarray(bestAt, bestAt + n);
}

/** Keeps only the named codec on the offer's audio line (what a G.711-only client offers). */
export function onlyAudioCodec(sdp: string, codec: string): string {
  const lines = sdp.split('\r\n');
  const m = lines.findIndex((l) => l.startsWith('m=audio'));
  const end = lines.findIndex((l, i) => i > m && l.startsWith('m='));
  const section = lines.slice(m, end < 0 ? undefined : end);
  const pt = section.map((l) => new RegExp(`^a=rtpmap:(\\d+) ${codec}/`, 'i').exec(l)?.[1]).find((x) => x);
  if (!pt) throw new Error(`the offer has no ${codec}`);
  const kept = section.filter((l) => {
    const p = /^a=(?:rtpmap|fmtp|rtcp-fb):(\d+)/.exec(l)?.[1];
    return p === undefined || p === pt;
  });
  kept[0] = kept[0]!.replace(/^(m=audio \S+ \S+) .*$/, `$1 ${pt}`);
  return [...lines.slice(0, m), ...kept, ...(end < 0 ? [] : lines.slice(end))].join('\r\n');
}
