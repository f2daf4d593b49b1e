// A viewer that stalls must not delay the others (issue 3, fan-out). Two viewers on one track:
// werift (in this process) and aiortc (a child process). The aiortc process is frozen with
// SIGSTOP: its socket stops being read, its RTCP stops. werift must keep receiving complete
// access units meanwhile; after SIGCONT aiortc must decode pictures again (it asks for a
// keyframe or NACKs what it lost) and both engine peers stay connected.
import t from 'tap';
import { WeriftViewer } from '../peers/werift.js';
import { sleep } from '../peers/viewer.js';
import { ProcessViewer, peerScript } from '../peers3/process-viewer.js';
import { MIN_FRAMES, streamTo, videoTrack } from './session.js';

const STALL_MS = 10_000;
const WITHIN_MS = 15_000;

t.test('a stalled aiortc viewer does not delay a werift viewer, and recovers', async (t) => {
  const track = videoTrack(t);
  const werift = new WeriftViewer({ name: 'werift' });
  const aiortc = new ProcessViewer('aiortc', [peerScript('aiortc_viewer.py'), '--no-audio'], 'aiortc');
  const [w, a] = await Promise.all([
    streamTo(t, werift, track),
    streamTo(t, aiortc, track, { diag: () => ({ log: aiortc.log, stderr: aiortc.stderr() }) }),
  ]);
  if (!w || !a) return;

  const wBefore = (await werift.stats()).frames;
  t.ok(aiortc.signal('SIGSTOP'), 'aiortc frozen (SIGSTOP)');
  await sleep(500); // lines aiortc wrote before it froze are read
  const aBefore = (await aiortc.stats()).frames;
  const during = await werift.waitForFrames(wBefore + MIN_FRAMES, WITHIN_MS).catch((e: unknown) => String(e));
  await sleep(Math.max(0, STALL_MS - 2000));
  const aDuring = (await aiortc.stats()).frames;
  const wAtResume = (await werift.stats()).frames;
  t.ok(aiortc.signal('SIGCONT'), 'aiortc resumed (SIGCONT)');
  if (typeof during === 'string') t.fail(`werift stalled along with aiortc: ${during}`);
  else t.ok(during.frames >= wBefore + MIN_FRAMES, `werift got ${wAtResume - wBefore} more complete access units while aiortc was frozen`);
  t.equal(aDuring, aBefore, 'aiortc decoded nothing while frozen (the stall is real)');

  // What the kernel kept in aiortc's socket buffer is decoded first; live decoding must go on
  // after that backlog (what overflowed the buffer, aiortc gets back by NACK from the engine's
  // history or by a keyframe after a PLI).
  await sleep(3000);
  const aDrained = (await aiortc.stats()).frames;
  const afterResume = await aiortc.waitForFrames(aDrained + MIN_FRAMES, WITHIN_MS).catch((e: unknown) => String(e));
  if (typeof afterResume === 'string') t.fail(`aiortc did not recover: ${afterResume}`, { log: aiortc.log.slice(-20), stderr: aiortc.stderr() });
  else t.ok(afterResume.frames >= aDrained + MIN_FRAMES, `aiortc decoded ${aDrained - aDuring} backlog + ${afterResume.frames - aDrained} live frames after resuming`);
  const wFinal = await werift.stats();
  t.equal(werift.rtpStats().incomplete, 0, 'werift lost no access unit');
  const [ws, as] = await Promise.all([w.pc.getStats(), a.pc.getStats()]);
  t.equal(ws.state, 'connected', 'engine peer of werift connected');
  t.equal(as.state, 'connected', 'engine peer of aiortc connected');
  t.comment(`werift ${wFinal.frames} frames; aiortc ${(await aiortc.stats()).frames} frames; engine for aiortc: pli ${as.pliReceived}, nack ${as.nackReceived}, retransmitted ${as.retransmitted}, sendErrors ${as.sendErrors}; track: ${JSON.stringify(track.stats())}`);
});
