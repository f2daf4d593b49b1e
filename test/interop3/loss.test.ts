// Loss test: the engine in one network namespace, a werift viewer in another, joined by a veth
// pair; nftables in the engine's namespace drops 5 % of the UDP packets over 200 bytes it sends
// (the media; STUN checks and RTCP are smaller) once the session is up. The output hook sees
// what the engine hands the kernel: a frame's equal-size packets as one UDP GSO buffer, so a
// drop loses that run of packets; the engine does not send a firewall-dropped buffer again
// (udp_batch.h). werift's receiver NACKs
// gaps; access units are counted complete by AuAssembler, which waits for retransmissions and,
// like libwebrtc's packet buffer, needs the packet before an access unit to find its start (a
// lost last packet of one access unit also costs the next one until it is repaired).
// - NACK offered (werift's default a=rtcp-fb:<pt> nack): complete access units >= 95 % of the
//   frames the engine sent during the lossy window.
// - NACK not offered (a=rtcp-fb:<pt> nack removed, nack pli kept): measurably lower.
import t, { type Test } from 'tap';
import { sleep } from '../peers/viewer.js';
import { DEBIAN_PYTHON, ProcessViewer, peerScript, type Json, type Message } from '../peers3/process-viewer.js';
import { connect } from './session.js';
import { EngineProcess, fixture, nodeIn } from './engine-process.js';
import { createNetnsPair, netnsUnavailable, type NetnsPair } from './netns.js';

const LOSS_PERCENT = 5;
const LOSSY_MS = 10_000;
const SETTLE_MS = 1_500;
const REQUIRED_WITH_NACK = 0.95;

interface Report {
  complete: number;
  packets: number;
  duplicates: number;
  late: number;
}

async function viewerReport(viewer: ProcessViewer): Promise<Report> {
  if (viewer.kind === 'aiortc') {
    // aiortc decodes: count pictures out of its decoder.
    return { complete: (await viewer.stats()).frames, packets: Number.NaN, duplicates: Number.NaN, late: Number.NaN };
  }
  const reply = viewer.next('report');
  viewer.request({ type: 'report' });
  const m = await reply;
  const a = (m?.['assembler'] ?? {}) as { [k: string]: Json };
  const n = (k: string): number => (typeof a[k] === 'number' ? a[k] : Number.NaN);
  return { complete: n('complete'), packets: n('packets'), duplicates: n('duplicates'), late: n('late') };
}

/** Removes `a=rtcp-fb:<pt> nack` lines (generic NACK) and keeps `nack pli`. */
export function withoutGenericNack(sdp: string): string {
  return sdp
    .split('\r\n')
    .filter((l) => !/^a=rtcp-fb:(\d+|\*) nack\s*$/.test(l))
    .join('\r\n');
}

function lossRuleset(ifname: string): string {
  return `table inet kvs3loss {
  counter media { }
  counter dropped { }
  chain out {
    type filter hook output priority 0; policy accept;
    oifname "${ifname}" meta l4proto udp meta length > 200 counter name "media"
    oifname "${ifname}" meta l4proto udp meta length > 200 numgen random mod 100 < ${LOSS_PERCENT} counter name "dropped" drop
  }
}
`;
}

function counter(net: NetnsPair, name: string): number {
  const text = net.nftEngineOutput(['list', 'counter', 'inet', 'kvs3loss', name]);
  return Number(/packets (\d+)/.exec(text)?.[1] ?? Number.NaN);
}

interface Outcome {
  framesSent: number;
  complete: number;
  ratio: number;
  mediaPackets: number;
  dropped: number;
  nackReceived: number;
  retransmitted: number;
  late: number;
}

type LossPeer = 'werift' | 'aiortc';

async function lossyRun(t: Test, net: NetnsPair, nack: boolean, peer: LossPeer = 'werift'): Promise<Outcome | null> {
  const engineProc = new ProcessViewer(
    'engine',
    [fixture('engine-fixture.ts'), JSON.stringify({ pc: { localAddresses: [net.engineAddr] }, track: { keyframeInterval: 300 } })],
    'engine fixture',
    nodeIn(net.engineNs),
  );
  const viewer =
    peer === 'werift'
      ? new ProcessViewer('werift', [fixture('werift-fixture.ts')], 'werift (netns)', nodeIn(net.viewerNs))
      : new ProcessViewer('aiortc', [peerScript('aiortc_viewer.py'), '--no-audio'], 'aiortc (netns)', ['ip', 'netns', 'exec', net.viewerNs, DEBIAN_PYTHON, '-u']);
  t.teardown(() => viewer.close());
  t.teardown(() => engineProc.close());
  t.teardown(() => {
    try {
      net.nftEngine('delete table inet kvs3loss\n');
    } catch {
      // not installed
    }
  });
  const engine = new EngineProcess(engineProc);
  const diag = (): Message => ({ engine: engineProc.log.join(' | '), engineStderr: engineProc.stderr(), viewer: viewer.log.join(' | '), viewerStderr: viewer.stderr() });
  const conn = await connect(viewer, engine, nack ? {} : { editOffer: withoutGenericNack }).catch((e: unknown) => {
    t.fail(`offer/answer failed: ${String(e)}`, diag());
    return null;
  });
  if (!conn) return null;
  const answerHasNack = /^a=rtcp-fb:\d+ nack\r?$/m.test(conn.answer);
  t.equal(answerHasNack, nack, `answer ${nack ? 'has' : 'has no'} generic NACK feedback`);
  t.match(conn.answer, /^a=rtcp-fb:\d+ nack pli\r?$/m, 'answer keeps nack pli');

  const first = await viewer.waitForFrames(30, 20_000).catch((e: unknown) => String(e));
  if (typeof first === 'string') {
    t.fail(`no video before the loss started: ${first}`, { ...diag(), offer: conn.offer, answer: conn.answer, engineStates: conn.engineStates });
    return null;
  }
  t.equal(first.firstFrameIsKeyframe, true, 'first frame is a keyframe (IDR with SPS/PPS)');

  net.nftEngine(lossRuleset(net.engineIf));
  const e0 = await engine.stats();
  const v0 = await viewerReport(viewer);
  // Receiver reports seen mid-window (after the track stops they report an idle interval).
  const fractions: string[] = [];
  for (let i = 0; i < 4; i++) {
    await sleep(LOSSY_MS / 4);
    const mid = await engine.stats();
    fractions.push(mid.peer.fractionLost === undefined ? '?' : mid.peer.fractionLost.toFixed(3));
  }
  await engine.stopTrack();
  await sleep(SETTLE_MS); // retransmissions of the last frames
  const e1 = await engine.stats();
  const v1 = await viewerReport(viewer);
  const framesSent = e1.peer.framesSent - e0.peer.framesSent;
  const complete = v1.complete - v0.complete;
  const outcome: Outcome = {
    framesSent,
    complete,
    ratio: complete / framesSent,
    mediaPackets: counter(net, 'media'),
    dropped: counter(net, 'dropped'),
    nackReceived: e1.peer.nackReceived - e0.peer.nackReceived,
    retransmitted: e1.peer.retransmitted - e0.peer.retransmitted,
    late: v1.late - v0.late,
  };
  t.ok(framesSent > 100, `engine sent ${framesSent} frames in the lossy ${LOSSY_MS / 1000} s`);
  t.ok(outcome.dropped > 0, `nftables dropped ${outcome.dropped} of ${outcome.mediaPackets} media packets (${((100 * outcome.dropped) / outcome.mediaPackets).toFixed(1)} %)`);
  t.comment(`${peer}, NACK ${nack ? 'negotiated' : 'not offered'}: ${complete}/${framesSent} ${peer === 'aiortc' ? 'decoded frames' : 'complete access units'} = ${(100 * outcome.ratio).toFixed(1)} %; engine nackReceived ${outcome.nackReceived}, retransmitted ${outcome.retransmitted}; viewer got ${outcome.late} late packets; engine states ${conn.engineStates.join(' -> ')}; RTT ${e1.peer.rttMs ?? '?'} ms; fractionLost from receiver reports during the loss: ${fractions.join(', ')}; PLI ${e1.peer.pliReceived - e0.peer.pliReceived}, keyframes sent ${e1.peer.keyframesSent - e0.peer.keyframesSent}`);
  return outcome;
}

const results: { withNack?: Outcome; withoutNack?: Outcome } = {};
const unavailable = netnsUnavailable();
t.test('5 % random media loss between namespaces: NACK repairs it', { skip: unavailable ?? false }, async (t) => {
  const net = createNetnsPair();
  t.teardown(() => net.remove());
  await t.test('NACK negotiated', async (t) => {
    const o = await lossyRun(t, net, true);
    if (!o) return;
    t.ok(o.ratio >= REQUIRED_WITH_NACK, `${(100 * o.ratio).toFixed(1)} % of frames complete at the viewer (>= ${100 * REQUIRED_WITH_NACK} %)`);
    t.ok(o.nackReceived > 0, `engine received ${o.nackReceived} NACKs`);
    t.ok(o.retransmitted > 0, `engine retransmitted ${o.retransmitted} packets`);
    results.withNack = o;
  });
  await t.test('NACK not offered', async (t) => {
    const o = await lossyRun(t, net, false);
    if (!o) return;
    t.equal(o.retransmitted, 0, 'engine retransmitted nothing');
    results.withoutNack = o;
    // Each media packet dropped (and not repaired) costs at least the access unit it was in, so
    // this does not depend on how many packets the random rule happened to drop.
    const incomplete = o.framesSent - o.complete;
    t.ok(incomplete >= Math.max(1, o.dropped - 3), `${incomplete} access units incomplete for ${o.dropped} dropped media packets: the loss is visible without NACK`);
    const w = results.withNack;
    if (w) {
      t.ok(o.ratio < w.ratio - 0.01, `without NACK ${(100 * o.ratio).toFixed(1)} % complete, measurably lower than with NACK (${(100 * w.ratio).toFixed(1)} %)`);
    }
    t.comment(`without NACK ${(100 * o.ratio).toFixed(1)} % complete (${o.ratio < REQUIRED_WITH_NACK ? 'below' : 'not below'} ${100 * REQUIRED_WITH_NACK} %)`);
  });
  // A decoding viewer under the same loss: aiortc 1.4 NACKs gaps (and PLIs what it cannot
  // repair). The engine answers every NACK (asserted). How many pictures come out of aiortc's
  // decoder varied from 62 % to 96 % of those sent in our runs although the NACKed packets were
  // retransmitted (60 % without NACK, with PLIs and keyframes); the shortfall is inside aiortc's
  // jitter buffer / decoder, not diagnosed further, so the 95 % bar is held by the werift case above and this one only reports its figure.
  await t.test('aiortc decodes through the loss with NACK', async (t) => {
    const o = await lossyRun(t, net, true, 'aiortc');
    if (!o) return;
    t.ok(o.nackReceived > 0, `aiortc sent ${o.nackReceived} NACKs`);
    t.ok(o.retransmitted > 0, `engine retransmitted ${o.retransmitted} packets for aiortc's ${o.nackReceived} NACKs`);
    // Reported, not asserted: aiortc 1.4's own decoder output under loss (see above).
    t.comment(`aiortc decoded ${(100 * o.ratio).toFixed(1)} % of the frames sent (werift's reassembly is held to ${100 * REQUIRED_WITH_NACK} %)`);
  });
});
