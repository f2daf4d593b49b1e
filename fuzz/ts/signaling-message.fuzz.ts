// Fuzz target: the signaling messages the device (master) receives from KVS, which carry a
// viewer's content (SDP_OFFER, ICE_CANDIDATE) or the service's (STATUS_RESPONSE, GO_AWAY,
// RECONNECT_ICE_SERVER): parseSignalingMessage, the parse step of SignalingClient.
// Input: byte 0 picks the form; 0: the rest is the frame's text; 1: fields (key case, type,
// sender) then the inner payload, which the target base64-encodes into messagePayload, so the
// fuzzer mutates the viewer's JSON itself; 2: a binary frame.
// Property: never throws; the result is well formed; a wrapped SDP_OFFER/ANSWER or ICE_CANDIDATE
// whose payload is a JSON object with a string sdp/candidate comes out as that message, unchanged.
import { parseSignalingMessage, type SignalingMessage } from '../../ts/kvs/SignalingClient.js';
import { check, Reader } from './harness.js';

const TYPES = ['SDP_OFFER', 'SDP_ANSWER', 'ICE_CANDIDATE', 'STATUS_RESPONSE', 'GO_AWAY', 'RECONNECT_ICE_SERVER'] as const;
const optStr = (v: unknown): boolean => v === undefined || typeof v === 'string';

function wellFormed(m: SignalingMessage): void {
  switch (m.kind) {
    case 'goAway':
    case 'reconnectIceServer':
      return;
    case 'bad':
      check(typeof m.reason === 'string' && m.reason.length > 0, 'a refusal names its reason');
      return;
    case 'statusResponse': {
      const s = m.status;
      check(optStr(s.correlationId) && optStr(s.errorType) && optStr(s.statusCode) && optStr(s.description), 'status fields are strings');
      return;
    }
    case 'iceCandidate': {
      const c = m.candidate;
      check(typeof c.candidate === 'string' && typeof m.sender === 'string', 'candidate and sender are strings');
      check(c.sdpMid === undefined || c.sdpMid === null || typeof c.sdpMid === 'string', 'sdpMid is a string or null');
      check(c.sdpMLineIndex === undefined || c.sdpMLineIndex === null || typeof c.sdpMLineIndex === 'number', 'sdpMLineIndex is a number or null');
      return;
    }
    case 'sdpOffer':
    case 'sdpAnswer':
      check(typeof m.description.sdp === 'string' && typeof m.sender === 'string', 'sdp and sender are strings');
      check(m.description.type === (m.kind === 'sdpOffer' ? 'offer' : 'answer'), 'description type matches the message');
      return;
    default:
      check(false, `unknown result kind ${JSON.stringify((m as { kind: unknown }).kind)}`);
  }
}

export function fuzz(data: Buffer): void {
  const r = new Reader(data);
  const form = r.byte() % 3;
  if (form === 2) {
    const m = parseSignalingMessage(r.rest(), true);
    check(m.kind === 'bad', 'a binary frame is refused');
    return;
  }
  if (form === 0) {
    wellFormed(parseSignalingMessage(r.rest(), false));
    return;
  }
  const pascal = r.bool();
  const type = r.bool() ? r.pick(TYPES) : r.string();
  const sender = r.string();
  const inner = r.rest();
  const key = (k: string): string => (pascal ? k.charAt(0).toUpperCase() + k.slice(1) : k);
  const frame = JSON.stringify({ [key('messageType')]: type, [key('senderClientId')]: sender, [key('messagePayload')]: inner.toString('base64') });
  const m = parseSignalingMessage(Buffer.from(frame), false);
  wellFormed(m);
  if (type !== 'SDP_OFFER' && type !== 'SDP_ANSWER' && type !== 'ICE_CANDIDATE') return;
  let payload: unknown;
  try {
    payload = JSON.parse(inner.toString('utf8'));
  } catch {
    check(m.kind === 'bad', `${type} with a payload that is not JSON is refused`);
    return;
  }
  if (typeof payload !== 'object' || payload === null) {
    check(m.kind === 'bad', `${type} with a payload that is not an object is refused`);
    return;
  }
  const p = payload as Record<string, unknown>;
  if (type === 'ICE_CANDIDATE') {
    if (typeof p['candidate'] !== 'string') return;
    check(m.kind === 'iceCandidate' && m.candidate.candidate === p['candidate'] && m.sender === sender, 'ICE_CANDIDATE comes out unchanged');
    return;
  }
  if (typeof p['sdp'] !== 'string') return;
  const want = type === 'SDP_OFFER' ? 'sdpOffer' : 'sdpAnswer';
  check(m.kind === want && m.description.sdp === p['sdp'] && m.sender === sender, `${type} comes out unchanged`);
}
