// A Chromium page as a viewer for the engine tests that need browser behaviour (ICE restart,
// relay, IPv6): offer/answer/trickle wired to one engine PeerConnection, framesDecoded read back.
import { chromium, type Browser, type Page } from 'playwright-core';
import type { IceCandidateInit, PeerConnection } from '../../ts/native/index.js';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../peers/chromium.js';

export function launch(extraArgs: string[] = []): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

/**
 * The page side: `v` is the page's RTCPeerConnection, `pending` holds the engine's candidates until
 * the answer is set, `toEngine` hands the page's candidates to the engine.
 */
export type PageWindow = Window & {
  v: RTCPeerConnection;
  pending: RTCIceCandidateInit[];
  toEngine(c: RTCIceCandidateInit): void;
};

/**
 * Trickles candidates both ways between the page's `v` (made by the caller, its onicecandidate
 * calling `toEngine`) and the engine peer; a candidate the engine refuses is dropped.
 */
export async function trickleWithPage(page: Page, pc: PeerConnection): Promise<void> {
  await page.exposeFunction('toEngine', (c: RTCIceCandidateInit) => {
    try { pc.addRemoteCandidate({ candidate: c.candidate ?? '', sdpMid: c.sdpMid ?? null }); } catch { /* ignored */ }
  });
  pc.on('candidate', (c) => {
    page.evaluate((c) => { const w = window as unknown as PageWindow; if (w.v.remoteDescription) void w.v.addIceCandidate(c); else w.pending.push(c); }, c).catch(() => undefined);
  });
}

/** Sets the engine's answer on the page's `v`, then adds the engine candidates that waited for it. */
export async function setPageAnswer(page: Page, sdp: string): Promise<void> {
  await page.evaluate(async (sdp) => {
    const w = window as unknown as PageWindow;
    await w.v.setRemoteDescription({ type: 'answer', sdp });
    for (const c of w.pending.splice(0)) await w.v.addIceCandidate(c);
  }, sdp);
}

export class ChromiumViewer {
  readonly engineCandidates: IceCandidateInit[] = [];
  readonly candidateErrors: string[] = [];
  private constructor(readonly page: Page, private readonly pc: PeerConnection) {}

  static async open(browser: Browser, pc: PeerConnection, config: RTCConfiguration = {}): Promise<ChromiumViewer> {
    const page = await browser.newPage();
    const viewer = new ChromiumViewer(page, pc);
    await page.exposeFunction('toEngine', (c: IceCandidateInit) => {
      try {
        pc.addRemoteCandidate(c);
      } catch (e) {
        viewer.candidateErrors.push(String(e));
      }
    });
    pc.on('candidate', (c) => {
      viewer.engineCandidates.push(c);
      page.evaluate((c) => {
        const w = window as unknown as PageWindow;
        if (w.v.remoteDescription) void w.v.addIceCandidate(c);
        else w.pending.push(c);
      }, c).catch(() => undefined);
    });
    await page.evaluate((config) => {
      const w = window as unknown as PageWindow;
      w.v = new RTCPeerConnection(config);
      w.pending = [];
      w.v.addTransceiver('video', { direction: 'recvonly' });
      w.v.onicecandidate = (e) => { if (e.candidate) w.toEngine(e.candidate.toJSON()); };
    }, config);
    return viewer;
  }

  /** One offer/answer round; restart = ICE restart (new ufrag/pwd). Returns [offer, answer]. */
  async negotiate(restart = false): Promise<[string, string]> {
    const offer = await this.page.evaluate(async (restart) => {
      const w = window as unknown as PageWindow;
      if (restart) w.v.restartIce();
      const o = await w.v.createOffer();
      await w.v.setLocalDescription(o);
      return o.sdp ?? '';
    }, restart);
    const answer = await this.pc.setRemoteOffer(offer);
    await setPageAnswer(this.page, answer);
    return [offer, answer];
  }

  async framesDecoded(): Promise<{ frames: number; width: number; state: string }> {
    return this.page.evaluate(async () => {
      const w = window as unknown as PageWindow;
      const out = { frames: 0, width: 0, state: w.v.connectionState as string };
      (await w.v.getStats()).forEach((s: { type: string; kind?: string; framesDecoded?: number; frameWidth?: number }) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') {
          out.frames = s.framesDecoded ?? 0;
          out.width = s.frameWidth ?? 0;
        }
      });
      return out;
    });
  }

  /** Polls until framesDecoded reaches n (bounded by timeoutMs); returns the last reading. */
  async waitForFrames(n: number, timeoutMs: number): Promise<{ frames: number; width: number; state: string }> {
    const end = Date.now() + timeoutMs;
    let last = await this.framesDecoded();
    while (last.frames < n && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 200));
      last = await this.framesDecoded();
    }
    return last;
  }
}

export function iceUfrag(sdp: string): string | undefined {
  return /a=ice-ufrag:(\S+)/.exec(sdp)?.[1];
}
