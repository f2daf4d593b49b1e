// The engine answers aiortc (Debian python3-aiortc 1.4 under /usr/bin/python3). aiortc decodes
// H.264 with PyAV/ffmpeg; the viewer reports every decoded frame with its size.
// DESIGN "Real peers": aiortc 1.4 offers a BUNDLE group yet gathers one ICE transport per
// media section, and may give two header extensions the same extmap id; the engine must cope.
import t from 'tap';
import { ProcessViewer, peerScript } from '../peers3/process-viewer.js';
import { MIN_FRAMES, TRACK, WITHIN_MS, sdpSection, streamTo, videoTrack } from './session.js';

/** ids that name different header extensions in different sections of one offer. */
function extmapClashes(sdp: string): string[] {
  const byId = new Map<string, Set<string>>();
  for (const m of sdp.matchAll(/^a=extmap:(\d+)(?:\/\w+)? (\S+)/gm)) {
    const set = byId.get(m[1]!) ?? new Set<string>();
    set.add(m[2]!);
    byId.set(m[1]!, set);
  }
  return [...byId].filter(([, uris]) => uris.size > 1).map(([id, uris]) => `${id}: ${[...uris].join(' vs ')}`);
}

function aiortc(name: string, audio: boolean): ProcessViewer {
  return new ProcessViewer('aiortc', [peerScript('aiortc_viewer.py'), ...(audio ? [] : ['--no-audio'])], name);
}

for (const audio of [true, false]) {
  const label = audio ? 'video + audio recvonly (aiortc default, BUNDLE)' : 'video only';
  t.test(`aiortc decodes H.264 from the engine: ${label}`, async (t) => {
    const viewer = aiortc(`aiortc ${label}`, audio);
    const track = videoTrack(t);
    const r = await streamTo(t, viewer, track, { diag: () => ({ log: viewer.log, stderr: viewer.stderr() }) });
    if (!r) return;
    const { stats, conn } = r;
    t.ok(stats.frames >= MIN_FRAMES, `${stats.frames} frames decoded by aiortc (>= ${MIN_FRAMES} within ${WITHIN_MS} ms)`);
    t.equal(stats.width, TRACK.width, 'decoded width is the track width');
    t.equal(stats.height, TRACK.height, 'decoded height is the track height');
    t.equal(stats.firstFrameIsKeyframe, true, 'first decoded frame is a keyframe');
    t.ok(conn.engineStates.includes('connected'), `engine states: ${conn.engineStates.join(' -> ')}`);
    t.notOk(conn.engineStates.includes('failed'), 'engine never failed');
    t.ok(conn.viewerStates.includes('connected'), `aiortc states: ${conn.viewerStates.join(' -> ')}`);
    t.same(conn.candidateErrors, [], 'every trickled candidate was accepted');
    const video = sdpSection(conn.answer, 0);
    t.match(video[0] ?? '', /^m=video [1-9]/, 'video section accepted');
    t.ok(video.some((l) => /^a=rtpmap:\d+ H264\/90000/i.test(l)), 'answer carries H.264');
    if (audio) {
      t.match(conn.offer, /^a=group:BUNDLE 0 1/m, 'aiortc offered a BUNDLE group');
      const clashes = extmapClashes(conn.offer);
      t.comment(clashes.length > 0 ? `offer reuses extmap ids across bundled sections (DESIGN quirk), accepted: ${clashes.join('; ')}` : 'offer has no extmap id clash');
      t.notMatch(conn.answer, /^a=extmap:/m, 'answer maps no header extension it does not use');
      const audioSection = sdpSection(conn.answer, 1);
      t.ok(audioSection.length > 0, 'audio section answered');
      t.ok(audioSection.includes('a=inactive') || /^m=audio 0 /.test(audioSection[0] ?? ''), `audio answered inactive or rejected: ${audioSection[0] ?? ''}`);
    }
    const engineStats = await r.pc.getStats();
    t.ok(engineStats.framesSent >= MIN_FRAMES, `engine sent ${engineStats.framesSent} frames`);
    t.comment(`aiortc: first decoded frame ${stats.firstFrameMs ?? '?'} ms after the offer; engine: ICE ${engineStats.timing.iceConnectedMs ?? '?'} ms, DTLS ${engineStats.timing.dtlsConnectedMs ?? '?'} ms; pair ${JSON.stringify(engineStats.selectedPair)}; nack ${engineStats.nackReceived}, pli ${engineStats.pliReceived}`);
    await viewer.close();
  });
}
