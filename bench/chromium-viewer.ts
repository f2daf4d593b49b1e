// A headless Chromium page acting as a viewer for benchmarks: it creates the offer, takes the
// answer and candidates, and reports when the first frame was decoded (requestVideoFrameCallback).
import { chromium, type Browser, type Page } from 'playwright-core';
import { CHROMIUM_ARGS as BASE_ARGS, CHROMIUM_PATH } from '../test/peers/chromium.js';

export const CHROMIUM_ARGS = [...BASE_ARGS, '--autoplay-policy=no-user-gesture-required'];

export interface Signaling {
  offer(sdp: string): Promise<string>;
  candidate(c: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null }): void;
  onCandidate(cb: (c: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null }) => void): void;
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

const PAGE = `<!doctype html><html><body><video id="v" muted autoplay playsinline></video></body></html>`;

/** Connects one viewer page; resolves with milliseconds from createOffer to the first decoded frame. */
export async function timeToFirstFrame(page: Page, signaling: Signaling, timeoutMs = 10000): Promise<number> {
  await page.setContent(PAGE);
  const id = Math.random().toString(36).slice(2);
  await page.exposeFunction(`kvsOffer_${id}`, (sdp: string) => signaling.offer(sdp));
  await page.exposeFunction(`kvsCandidate_${id}`, (c: { candidate: string; sdpMid: string | null; sdpMLineIndex: number | null }) => signaling.candidate(c));
  signaling.onCandidate((c) => {
    page.evaluate((c) => (window as unknown as { addRemote(c: unknown): void }).addRemote(c), c).catch(() => undefined);
  });
  return page.evaluate(async ({ id, timeoutMs }) => {
    const w = window as unknown as Record<string, (...a: unknown[]) => Promise<string>> & { addRemote?: (c: RTCIceCandidateInit) => void };
    const pc = new RTCPeerConnection();
    const pending: RTCIceCandidateInit[] = [];
    let remoteSet = false;
    w.addRemote = (c: RTCIceCandidateInit) => { if (remoteSet) void pc.addIceCandidate(c); else pending.push(c); };
    pc.addTransceiver('video', { direction: 'recvonly' });
    const video = document.getElementById('v') as HTMLVideoElement;
    const first = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no frame decoded in time')), timeoutMs);
      pc.ontrack = (ev) => {
        video.srcObject = new MediaStream([ev.track]);
        video.requestVideoFrameCallback((now) => { clearTimeout(timer); resolve(now); });
      };
    });
    pc.onicecandidate = (e) => { if (e.candidate) void w[`kvsCandidate_${id}`]!(e.candidate.toJSON()); };
    const t0 = performance.now();
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const answer = await w[`kvsOffer_${id}`]!(offer.sdp);
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    remoteSet = true;
    for (const c of pending) await pc.addIceCandidate(c);
    const t1 = await first;
    pc.close();
    return t1 - t0;
  }, { id, timeoutMs });
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}
