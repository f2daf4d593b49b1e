// Transport-wide congestion control on a bandwidth-limited path: the engine as camera (child
// process) in one network namespace, the engine as viewer (offering transport-cc) in another,
// joined by a veth pair. Once video flows, nftables at the viewer's ingress polices the media
// from the camera to LIMIT_KBYTES kB/s, below what the encoder sends unlimited (packets over the
// rate are dropped, as a policer in the network would; the camera's sends all succeed). The viewer's transport-cc feedback reports the losses; the camera's TWCC
// estimate, in force for this viewer, brings the shared encoder's target bitrate (track stats)
// well below the configured START_KBPS and below what it sent before. When the limit is lifted
// the estimate grows again (8 %/s, AIMD) and the target follows.
// (werift 0.x was tried as the viewer: its transport-cc feedback leaves lost packets out of the
// status chunks, so it cannot report a policer's losses.)
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { sleep } from '../peers/viewer.js';
import { ProcessViewer, type Message } from '../peers3/process-viewer.js';
import { connect } from './session.js';
import { EngineProcess, fixture, nodeIn } from './engine-process.js';
import { createNetnsPair, netnsUnavailable, type NetnsPair } from './netns.js';

const START_KBPS = 1500;
const LIMIT_KBYTES = 12; // 96 kbit/s of media; the 640x480 test pattern takes ~200-300 kbit/s
const TABLE = 'twcclimit';

function limitRuleset(ifname: string): string {
  return `table inet ${TABLE} {
  counter media { }
  counter dropped { }
  chain in {
    type filter hook input priority 0; policy accept;
    iifname "${ifname}" meta l4proto udp meta length > 200 counter name "media"
    iifname "${ifname}" meta l4proto udp meta length > 200 limit rate over ${LIMIT_KBYTES} kbytes/second burst 30 kbytes counter name "dropped" drop
  }
}
`;
}

/** `nft` in the viewer's namespace (the netns helper has it for the engine's only). */
function nftViewer(net: NetnsPair, args: string[], input?: string): string {
  return execFileSync('ip', ['netns', 'exec', net.viewerNs, 'nft', ...args], { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

function counter(net: NetnsPair, name: string): number {
  const text = nftViewer(net, ['list', 'counter', 'inet', TABLE, name]);
  return Number(/packets (\d+)/.exec(text)?.[1] ?? Number.NaN);
}

const unavailable = netnsUnavailable();
t.test('a bandwidth limit brings the encoder target down through transport-cc feedback', { skip: unavailable ?? false }, async (t) => {
  const net = createNetnsPair('twcc');
  t.teardown(() => net.remove());
  const engineProc = new ProcessViewer(
    'engine',
    [fixture('engine-fixture.ts'), JSON.stringify({ pc: { localAddresses: [net.engineAddr] }, track: { bitrateKbps: START_KBPS, keyframeInterval: 300 } })],
    'engine fixture',
    nodeIn(net.engineNs),
  );
  const viewer = new ProcessViewer(
    'engine-viewer',
    [fixture('engine-viewer-fixture.ts'), JSON.stringify({ pc: { localAddresses: [net.viewerAddr] } })],
    'engine as viewer (netns)',
    nodeIn(net.viewerNs),
  );
  t.teardown(() => viewer.close());
  t.teardown(() => engineProc.close());
  let limited = false;
  const lift = (): void => {
    if (!limited) return;
    limited = false;
    try {
      nftViewer(net, ['-f', '-'], `delete table inet ${TABLE}\n`);
    } catch {
      // already gone
    }
  };
  t.teardown(lift);
  const engine = new EngineProcess(engineProc);
  const diag = (): Message => ({ engine: engineProc.log.slice(-20).join(' | '), engineStderr: engineProc.stderr(), viewer: viewer.log.slice(-20).join(' | '), viewerStderr: viewer.stderr() });
  const conn = await connect(viewer, engine).catch((e: unknown) => {
    t.fail(`offer/answer failed: ${String(e)}`, diag());
    return null;
  });
  if (!conn) return;
  const ext = /^a=extmap:(\d+) http:\/\/www\.ietf\.org\/id\/draft-holmer-rmcat-transport-wide-cc-extensions-01\r?$/m;
  const offered = ext.exec(conn.offer)?.[1];
  t.ok(offered, 'the viewer offers the transport-wide-cc header extension');
  t.equal(ext.exec(conn.answer)?.[1], offered, 'the engine answers it with the same id');
  t.match(conn.answer, /^a=rtcp-fb:\d+ transport-cc\r?$/m, 'and transport-cc feedback');

  const first = await viewer.waitForFrames(30, 20_000).catch((e: unknown) => String(e));
  if (typeof first === 'string') {
    t.fail(`no video before the limit: ${first}`, { ...diag(), answer: conn.answer });
    return;
  }
  // Unlimited first: feedback flows, the estimate is TWCC's, the target stays at the start.
  let s = await engine.stats();
  for (let end = Date.now() + 15_000; s.peer.twccFeedbackReceived < 20 && Date.now() < end; s = await engine.stats()) await sleep(250);
  t.ok(s.peer.transportCc, 'transport-cc negotiated (engine stats)');
  t.ok(s.peer.twccFeedbackReceived >= 20, `camera received ${s.peer.twccFeedbackReceived} transport-cc feedback packets from the viewer`);
  t.equal(s.peer.twccFeedbackErrors, 0, 'none of them malformed');
  t.equal(s.peer.estimateSource, 'twcc', 'the TWCC estimate is in force');
  const before = s.track.targetBitrateKbps;
  t.comment(`unlimited: target ${before} kbps, TWCC estimate ${s.peer.twccEstimateKbps} kbps, acked ${s.peer.twccAckedKbps} kbps, loss ${s.peer.twccLossFraction}, delay ${s.peer.twccDelaySignal}`);
  t.ok(before >= START_KBPS * 0.9, `the target starts near the configured ${START_KBPS} kbps (${before})`);
  const a = await engine.stats();
  await sleep(3000);
  const b = await engine.stats();
  const sentKbps = ((b.peer.bytesSent - a.peer.bytesSent) * 8) / 3000;
  t.ok(sentKbps > LIMIT_KBYTES * 8 * 1.5, `unlimited, the encoder sends ${sentKbps.toFixed(0)} kbps: more than the limit will let through`);

  nftViewer(net, ['-f', '-'], limitRuleset(net.viewerIf));
  limited = true;
  const trace: string[] = [];
  let lowest = before;
  for (let end = Date.now() + 30_000; Date.now() < end;) {
    await sleep(1000);
    s = await engine.stats();
    lowest = Math.min(lowest, s.track.targetBitrateKbps);
    trace.push(`${s.track.targetBitrateKbps}/${s.peer.twccEstimateKbps}/${s.peer.twccAckedKbps}/${s.peer.twccLossFraction?.toFixed(2)}/${s.peer.twccDelaySignal}`);
    if (s.track.targetBitrateKbps <= Math.min(START_KBPS / 3, sentKbps * 0.6)) break;
  }
  const dropped = counter(net, 'dropped');
  t.comment(`limited to ${LIMIT_KBYTES * 8} kbit/s: target/estimate/acked kbps/loss/delay each second: ${trace.join(', ')}; nftables dropped ${dropped} of ${counter(net, 'media')} media packets`);
  t.ok(dropped > 0, `the limit dropped media packets (${dropped})`);
  t.ok(lowest <= START_KBPS / 3, `the encoder's target came down well below the configured ${START_KBPS} kbps: ${lowest} kbps`);
  t.ok(lowest <= sentKbps * 0.6, `and below the ${sentKbps.toFixed(0)} kbps the encoder sent unlimited`);
  t.equal(s.peer.estimateSource, 'twcc', 'driven by the TWCC estimate');
  t.ok((s.peer.twccEstimateKbps ?? Infinity) <= START_KBPS / 3, `TWCC estimate ${s.peer.twccEstimateKbps} kbps`);
  t.equal(s.peer.twccFeedbackErrors, 0, 'no malformed feedback');

  // Lifted: the estimate grows again and the target follows.
  lift();
  const rising: number[] = [];
  for (let end = Date.now() + 40_000; Date.now() < end;) {
    await sleep(1000);
    s = await engine.stats();
    rising.push(s.track.targetBitrateKbps);
    if (s.track.targetBitrateKbps >= lowest * 2.5) break;
  }
  t.comment(`limit lifted: target each second ${rising.join(', ')} kbps`);
  t.ok(s.track.targetBitrateKbps >= lowest * 2.5, `the target recovers: ${lowest} -> ${s.track.targetBitrateKbps} kbps`);
  const stats = await viewer.stats();
  t.ok(stats.frames > first.frames, `the viewer kept receiving video (${stats.frames} frames)`);
});
