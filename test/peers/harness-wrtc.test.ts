// The wrtc viewer module checked against a sender no one here wrote. The prebuilt @roamhq/wrtc
// has no H.264, so its frame counting is checked with a codec it has (VP8), sent by headless
// Chromium from a canvas. The check runs in a child process (wrtc-vp8-check.ts) because
// @roamhq/wrtc 0.10.0 crashes with SIGSEGV at process exit once it has received video (and a
// wrtc RTCVideoSource sender keeps the process alive forever): the measurement is printed
// before that, and the crash is reported as a comment, not hidden.
import t from 'tap';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { VideoReceiveStats } from './viewer.js';

t.test('wrtc viewer counts frames decoded by libwebrtc', async (t) => {
  const script = fileURLToPath(new URL('./wrtc-vp8-check.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 90_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.on('exit', (c, s) => resolve([c, s])),
  );
  clearTimeout(killer);
  t.comment(`child exit: code ${code} signal ${signal}`);
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  t.ok(line, 'child measured frames', { stdout: out, stderr: err.slice(-2000) });
  if (!line) return;
  const stats = JSON.parse(line.slice('RESULT '.length)) as VideoReceiveStats;
  t.ok(stats.frames >= 60, `${stats.frames} frames`);
  t.equal(stats.width, 320);
  t.equal(stats.height, 240);
  t.ok(stats.keyframes >= 1, 'keyFramesDecoded from getStats');
  t.equal(stats.codec, 'video/VP8');
});
