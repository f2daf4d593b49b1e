// The engine fixture (test/peers3/engine-fixture.ts) in a child process, e.g. inside a network
// namespace, seen as the engine side of connect(). Shared by the interop3 netns tests.
import { fileURLToPath } from 'node:url';
import type { IceCandidateInit, PeerStats, TrackStats } from '../../ts/native/index.js';
import type { ProcessViewer } from '../peers3/process-viewer.js';
import type { EngineSide } from './session.js';

export const fixture = (name: string): string => fileURLToPath(new URL(`../peers3/${name}`, import.meta.url));
export const nodeIn = (ns: string): string[] => ['ip', 'netns', 'exec', ns, process.execPath, '--import', 'tsx'];

/** The engine fixture seen as the engine side of connect(). */
export class EngineProcess implements EngineSide {
  constructor(readonly proc: ProcessViewer) {}
  async setRemoteOffer(sdp: string): Promise<string> {
    const reply = this.proc.next('answer', 15_000);
    this.proc.request({ type: 'offer', sdp });
    const m = await reply;
    if (m === null || typeof m['sdp'] !== 'string') throw new Error(`engine fixture gave no answer: ${this.proc.log.join(' | ')} ${this.proc.stderr()}`);
    return m['sdp'];
  }
  addRemoteCandidate(c: IceCandidateInit): void {
    this.proc.request({ type: 'candidate', candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null });
  }
  on(event: 'candidate' | 'state', cb: ((c: IceCandidateInit) => void) | ((s: string) => void)): this {
    if (event === 'candidate') this.proc.onCandidate(cb as (c: IceCandidateInit) => void);
    else this.proc.onState(cb as (s: string) => void);
    return this;
  }
  async stats(): Promise<{ peer: PeerStats; track: TrackStats }> {
    const reply = this.proc.next('stats');
    this.proc.request({ type: 'stats' });
    const m = await reply;
    if (m === null) throw new Error('engine fixture gave no stats');
    return { peer: m['peer'] as unknown as PeerStats, track: m['track'] as unknown as TrackStats };
  }
  async stopTrack(): Promise<void> {
    const reply = this.proc.next('track-stopped');
    this.proc.request({ type: 'stop-track' });
    await reply;
  }
}
