// Shared pieces of the interop3 tests: the engine answers a viewer's offer, candidates go both
// ways, and failures carry everything seen (SDPs, states, candidates, engine stats).

import type { Test } from 'tap';
import type { PeerConnection, PeerConnectionOptions, VideoTrack } from '../../ts/native/index.js';
import { FrameTimeoutError, connectToEngine, type Connection, type VideoReceiveStats } from '../peers/viewer.js';
import type { ViewerLike } from '../peers3/process-viewer.js';
import { MIN_FRAMES, WITHIN_MS, engine, sessionDiagnostics } from '../interop/engine-session.js';

// The track, the frame goal and the engine peer are the interop tests' own (test/interop).
export { MIN_FRAMES, TRACK, WITHIN_MS, videoTrack } from '../interop/engine-session.js';

// The signaling glue is the harness's own (test/peers/viewer.ts); the netns fixture's proxy
// and the child-process viewers fit its interfaces.
export { connectToEngine as connect, type Connection, type EnginePeer as EngineSide } from '../peers/viewer.js';

/** An engine PeerConnection sending `track`, closed by the test's teardown. */
export function enginePeer(t: Test, track: VideoTrack, options: PeerConnectionOptions = {}): PeerConnection {
  return engine(t, { track, pc: options }).pc;
}

export interface Streamed {
  stats: VideoReceiveStats;
  conn: Connection;
  pc: PeerConnection;
}

/**
 * Connects `viewer` to a new engine peer on `track` and waits for MIN_FRAMES frames. On failure
 * the test fails with a diagnostic record and null is returned.
 */
export async function streamTo(
  t: Test,
  viewer: ViewerLike,
  track: VideoTrack,
  opts: {
    pc?: PeerConnectionOptions;
    editOffer?: (sdp: string) => string;
    diag?: () => unknown;
    /** A known problem: the failure is reported as TODO (the test still runs, and passes once fixed). */
    todo?: string;
  } = {},
): Promise<Streamed | null> {
  t.teardown(() => viewer.close());
  const todo = opts.todo === undefined ? {} : { todo: opts.todo };
  const pc = enginePeer(t, track, opts.pc);
  let conn: Connection;
  try {
    conn = await connectToEngine(viewer, pc, opts.editOffer ? { editOffer: opts.editOffer } : {});
  } catch (err) {
    t.fail(`${viewer.kind}: offer/answer failed: ${String(err)}`, { diag: opts.diag?.(), ...todo });
    return null;
  }
  try {
    const stats = await viewer.waitForFrames(MIN_FRAMES, WITHIN_MS);
    return { stats, conn, pc };
  } catch (err) {
    t.fail(`${viewer.kind}: fewer than ${MIN_FRAMES} frames within ${WITHIN_MS} ms`, {
      seen: err instanceof FrameTimeoutError ? err.stats : String(err),
      ...(await sessionDiagnostics(conn, pc, track)),
      diag: opts.diag?.(),
      ...todo,
    });
    return null;
  }
}

/** Lines of the SDP section (m= line included) at index `i`. */
export function sdpSection(sdp: string, i: number): string[] {
  const sections: string[][] = [];
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith('m=')) sections.push([]);
    sections.at(-1)?.push(line);
  }
  return sections[i] ?? [];
}
