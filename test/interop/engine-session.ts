// Shared body of the engine-<peer> interop tests: the engine answers one real viewer's offer
// and the viewer must see H.264 frames at the track's resolution.

import type { Test } from 'tap';
import { PeerConnection, VideoTrack } from '../../ts/native/index.js';
import type { PeerConnectionOptions, VideoTrackOptions } from '../../ts/native/index.js';
import { connectToEngine, FrameTimeoutError, h264PayloadType, type Connection, type Viewer, type VideoReceiveStats } from '../peers/viewer.js';

export const TRACK: Required<Pick<VideoTrackOptions, 'width' | 'height' | 'fps' | 'bitrateKbps'>> = {
  width: 640,
  height: 480,
  fps: 30,
  bitrateKbps: 1000,
};

/** From the issue: at least 60 frames within 10 s per peer. */
export const MIN_FRAMES = 60;
export const WITHIN_MS = 10_000;

export interface SessionResult {
  stats: VideoReceiveStats;
  conn: Connection;
  pc: PeerConnection;
  track: VideoTrack;
}

export interface SessionOptions {
  pc?: PeerConnectionOptions;
  /** Share this track (owned by the caller) instead of making one per peer. */
  track?: VideoTrack;
}

/** A VideoTrack of the test size, closed by the test's teardown. */
export function videoTrack(t: Test, trackOptions: VideoTrackOptions = {}): VideoTrack {
  const track = new VideoTrack({ ...TRACK, ...trackOptions });
  t.teardown(() => track.close());
  return track;
}

/** Engine PeerConnection (+ its own VideoTrack unless one is given), closed by the test's teardown. */
export function engine(t: Test, opts: SessionOptions = {}): { pc: PeerConnection; track: VideoTrack } {
  const track = opts.track ?? videoTrack(t);
  const pc = new PeerConnection({ iceServers: [], ...opts.pc });
  pc.addTrack(track);
  t.teardown(() => pc.close());
  return { pc, track };
}

/**
 * Connects the viewer to a fresh engine peer and waits for MIN_FRAMES frames. On failure the
 * test output carries what was seen: SDPs, states, candidates, engine stats.
 */
export async function streamToViewer(
  t: Test,
  viewer: Viewer,
  opts: SessionOptions = {},
): Promise<SessionResult | null> {
  t.teardown(() => viewer.close());
  const { pc, track } = engine(t, opts);
  let conn: Connection | undefined;
  try {
    conn = await connectToEngine(viewer, pc);
  } catch (err) {
    t.fail(`${viewer.kind}: offer/answer failed: ${String(err)}`, { error: err });
    return null;
  }
  let stats: VideoReceiveStats;
  try {
    stats = await viewer.waitForFrames(MIN_FRAMES, WITHIN_MS);
  } catch (err) {
    const seen = err instanceof FrameTimeoutError ? err.stats : await viewer.stats().catch(() => undefined);
    t.fail(`${viewer.kind}: fewer than ${MIN_FRAMES} frames within ${WITHIN_MS} ms`, { seen, ...(await sessionDiagnostics(conn, pc, track)) });
    return null;
  }
  return { stats, conn, pc, track };
}

/** What the output of a session that fell short carries: states, candidates, SDPs, engine and track stats. */
export async function sessionDiagnostics(conn: Connection, pc: PeerConnection, track: VideoTrack): Promise<Record<string, unknown>> {
  return {
    engineStates: conn.engineStates,
    viewerStates: conn.viewerStates,
    engineCandidates: conn.engineCandidates.map((c) => c.candidate),
    viewerCandidates: conn.viewerCandidates.map((c) => c.candidate),
    candidateErrors: conn.candidateErrors,
    engineStats: await pc.getStats().catch((e: unknown) => String(e)),
    trackStats: track.stats(),
    offer: conn.offer,
    answer: conn.answer,
  };
}

/** Assertions every viewer shares once frames arrived. */
export function assertVideo(t: Test, r: SessionResult): void {
  const { stats, conn } = r;
  t.ok(stats.frames >= MIN_FRAMES, `${stats.frames} frames received (>= ${MIN_FRAMES} within ${WITHIN_MS} ms)`);
  t.ok(stats.keyframes >= 1, `${stats.keyframes} keyframe(s) among them`);
  t.equal(stats.width, TRACK.width, 'width seen by the viewer is the track width');
  t.equal(stats.height, TRACK.height, 'height seen by the viewer is the track height');
  if (stats.codec !== undefined) t.equal(stats.codec.toLowerCase(), 'video/h264', 'viewer reports H.264');
  t.ok(conn.engineStates.includes('connected'), `engine states: ${conn.engineStates.join(' -> ')}`);
  t.notOk(conn.engineStates.includes('failed'), 'engine never failed');
  t.ok(/a=rtpmap:\d+ H264\/90000/i.test(conn.answer), 'answer carries H.264');
  const pt = h264PayloadType(conn.answer);
  const offered = new RegExp(`^a=fmtp:${pt} .*packetization-mode=1`, 'm');
  const offeredH264 = new RegExp(`^a=rtpmap:${pt} H264/90000`, 'mi');
  t.ok(pt !== undefined && offered.test(conn.offer) && offeredH264.test(conn.offer), `answer's H.264 payload type ${pt} is one the offer lists with packetization-mode=1`);
  t.same(conn.candidateErrors, [], 'every trickled candidate was accepted on both sides');
  t.comment(`time to first frame from createOffer: ${stats.firstFrameMs === undefined ? '?' : Math.round(stats.firstFrameMs)} ms`);
}
