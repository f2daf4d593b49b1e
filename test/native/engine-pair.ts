// The engine as a viewer of an engine camera in one process: the viewer's offer, the camera's
// answer, candidates trickled both ways (the camera's held until the viewer has the answer).
import type { OfferOptions, PeerConnection } from '../../ts/native/index.js';

export async function connectEngineViewer(camera: PeerConnection, viewer: PeerConnection, options: OfferOptions = { video: true }): Promise<{ offer: string; answer: string }> {
  const early: { candidate: string; sdpMid?: string | null }[] = [];
  let answered = false;
  camera.on('candidate', (c) => (answered ? viewer.addRemoteCandidate(c) : early.push(c)));
  viewer.on('candidate', (c) => camera.addRemoteCandidate(c));
  const offer = await viewer.createOffer(options);
  const answer = await camera.setRemoteOffer(offer);
  await viewer.setRemoteAnswer(answer);
  answered = true;
  for (const c of early.splice(0)) viewer.addRemoteCandidate(c);
  return { offer, answer };
}
