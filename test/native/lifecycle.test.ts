// The addon's lifecycle as a user sees it: usage errors, idempotent close, and processes that
// end with peers open or closed neither hang nor crash.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { NativeError, PeerConnection, VideoTrack } from '../../ts/native/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

function runChild(mode: string, timeoutMs: number): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string; ms: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'fixtures', 'stream-then-exit.ts'), mode], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

t.test('usage errors are TypeErrors that name the argument', async (t) => {
  t.throws(() => new VideoTrack({ width: 641 }), /width=641/);
  t.throws(() => new PeerConnection({ iceServers: [{ urls: 'http://example' }] }), TypeError);
  t.throws(() => new PeerConnection({ iceServers: [{ urls: 'turn:127.0.0.1:3478' }] }), /needs username and credential/);
  t.throws(() => new PeerConnection({ iceTransportPolicy: 'none' as 'all' }), /iceTransportPolicy/);
  const track = new VideoTrack({ width: 320, height: 240 });
  t.throws(() => track.setBitrate(-5), /kbps must be 16\.\.100000/);
  track.close();
});

t.test('a media error carries its code', async (t) => {
  try {
    new VideoTrack({ width: 320, height: 240, source: 'nonsense' as 'pattern' });
    t.fail('accepted an unknown source');
  } catch (err) {
    t.ok(err instanceof NativeError, 'NativeError');
    t.equal((err as NativeError).code, 'ERR_MEDIA');
    t.match((err as Error).message, /source/);
  }
});

t.test('close is idempotent and emits closed once; calls after close fail clearly', async (t) => {
  const pc = new PeerConnection();
  const states: string[] = [];
  pc.on('state', (s) => states.push(s));
  pc.close();
  pc.close();
  await new Promise((r) => setTimeout(r, 200));
  t.same(states, ['closed']);
  await t.rejects(pc.setRemoteOffer('v=0\r\n'), { code: 'ERR_CLOSED' });
  t.throws(() => pc.addRemoteCandidate({ candidate: 'candidate:1 1 UDP 1 127.0.0.1 9 typ host' }), { code: 'ERR_CLOSED' });
});

t.test('a candidate before the offer is refused with ERR_INVALID_STATE', async (t) => {
  const pc = new PeerConnection();
  t.throws(() => pc.addRemoteCandidate({ candidate: 'candidate:1 1 UDP 1 127.0.0.1 9 typ host' }), { code: 'ERR_INVALID_STATE' });
  pc.close();
});

t.test('process.exit with a peer and track still streaming exits at once', async (t) => {
  const r = await runChild('exit', 60000);
  t.equal(r.signal, null, `not killed (stderr: ${r.stderr.slice(-500)})`);
  t.equal(r.code, 0, 'exit code 0');
  const seen = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { frames?: number; keyframes?: number };
  t.ok((seen.frames ?? 0) >= 10, `viewer received frames before the exit (${seen.frames})`);
});

t.test('after closing everything the event loop runs dry and the process ends by itself', async (t) => {
  const r = await runChild('close', 60000);
  t.equal(r.signal, null, `ended without being killed (stderr: ${r.stderr.slice(-500)})`);
  t.equal(r.code, 0);
});

t.test('many peers created, connected to nothing, and closed leave no subscribers behind', async (t) => {
  const track = new VideoTrack({ width: 320, height: 240 });
  for (let i = 0; i < 50; i++) {
    const pc = new PeerConnection();
    pc.addTrack(track);
    pc.close();
  }
  await new Promise((r) => setTimeout(r, 100));
  t.equal(track.stats().subscribers, 0);
  track.close();
});
