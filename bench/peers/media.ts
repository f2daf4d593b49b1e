// The content every sender of the peer benchmark sends: one 720p30 H.264 Annex-B file at about
// 2 Mbps, made once per run with GStreamer's openh264enc, split into access units, and paced at
// 30 fps (looping) by the senders that take access units (node-datachannel, werift).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { annexBAccessUnits } from '../../test/peers/reference-sender.js';

export const CONTENT = { width: 1280, height: 720, fps: 30, bitrateKbps: 2000, gop: 60 } as const;

/**
 * gst-launch arguments for the raw pictures of the content: videotestsrc's moving SMPTE pattern,
 * I420 at the content's size and rate (the same as gst_sender.py's "encode" mode). `live`: paced
 * at the frame rate, as a camera is.
 */
export function gstRawPatternArgs(opts: { numBuffers?: number; live?: boolean } = {}): string[] {
  const { width, height, fps } = CONTENT;
  return [
    'videotestsrc', ...(opts.live ? ['is-live=true'] : []), ...(opts.numBuffers ? [`num-buffers=${opts.numBuffers}`] : []), 'pattern=smpte', 'horizontal-speed=2', '!',
    `video/x-raw,width=${width},height=${height},framerate=${fps}/1,format=I420`,
  ];
}

/** gst-launch arguments for the content file: the raw pattern encoded by GStreamer's openh264enc. */
export function gstPatternArgs(numBuffers?: number): string[] {
  const { bitrateKbps, gop } = CONTENT;
  // qp-min=32: openh264's rate control overshoots this moving SMPTE pattern about 2x without it.
  return [
    ...gstRawPatternArgs({ numBuffers }), '!',
    'openh264enc', `bitrate=${bitrateKbps * 1000}`, 'rate-control=bitrate', `gop-size=${gop}`, 'qp-min=32', '!',
    'video/x-h264,profile=constrained-baseline,stream-format=byte-stream,alignment=au',
  ];
}

/** argv of a command writing the live raw pattern (I420 frames) to its stdout, for a 'pipe' source. */
export function gstRawPatternCommand(): string[] {
  return ['gst-launch-1.0', '-q', ...gstRawPatternArgs({ live: true }), '!', 'fdsink', 'fd=1'];
}

/** Writes `seconds` of the content to dir/content-720p30.h264 (once) and returns the path. */
export function makeContentFile(dir: string, seconds = 10): string {
  const path = join(dir, `content-${CONTENT.height}p${CONTENT.fps}.h264`);
  if (existsSync(path) && statSync(path).size > 0) return path;
  try {
    execFileSync('gst-launch-1.0', ['-q', ...gstPatternArgs(seconds * CONTENT.fps), '!', 'filesink', `location=${path}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    throw new Error(`gst-launch-1.0 could not make the benchmark's H.264 file (needs gstreamer1.0-tools, -plugins-base, -plugins-bad with openh264enc): ${(err as Error).message}`);
  }
  if (!existsSync(path) || statSync(path).size === 0) throw new Error(`gst-launch-1.0 wrote no H.264 to ${path}`);
  return path;
}

export interface AccessUnit {
  data: Buffer;
  keyframe: boolean;
}

/** The file's access units (Annex-B, 4-byte start codes), each flagged when it holds an IDR slice. */
export function loadAccessUnits(path: string): AccessUnit[] {
  const aus = annexBAccessUnits(readFileSync(path)).map((data) => ({ data, keyframe: nalTypes(data).includes(5) }));
  if (aus.length === 0) throw new Error(`${path}: no H.264 access units`);
  if (!aus[0]!.keyframe) throw new Error(`${path}: does not start with an IDR`);
  return aus;
}

/** NAL unit types in an Annex-B buffer. */
export function nalTypes(au: Buffer): number[] {
  const types: number[] = [];
  for (let i = 0; i + 3 < au.length; i++) {
    if (au[i] === 0 && au[i + 1] === 0 && au[i + 2] === 1) {
      types.push(au[i + 3]! & 0x1f);
      i += 3;
    }
  }
  return types;
}

/**
 * Calls `onFrame` for each access unit at `fps` (looping), on a clock that does not drift: the
 * n-th frame is due at start + n / fps. Returns a stop function.
 */
export function paceAccessUnits(aus: AccessUnit[], fps: number, onFrame: (au: AccessUnit, n: number) => void): () => void {
  const start = performance.now();
  let n = 0;
  let timer: NodeJS.Timeout | undefined;
  const tick = (): void => {
    const now = performance.now();
    while (start + (n * 1000) / fps <= now) {
      onFrame(aus[n % aus.length]!, n);
      n++;
    }
    timer = setTimeout(tick, Math.max(1, start + (n * 1000) / fps - performance.now()));
  };
  tick();
  return () => clearTimeout(timer);
}
