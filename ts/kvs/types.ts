/** Shapes shared by the control plane and the signaling client. */
export type ChannelRole = 'MASTER' | 'VIEWER';

/** The WebRTC RTCIceServer shape, what PeerConnection({ iceServers }) takes. */
export interface IceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

export interface SignalingEndpoints {
  channelArn: string;
  wss: string;
  https: string;
}

export interface SessionDescription {
  type: 'offer' | 'answer';
  sdp: string;
}

export interface IceCandidate {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
}

export interface StatusResponse {
  correlationId: string | undefined;
  errorType: string | undefined;
  statusCode: string | undefined;
  description: string | undefined;
}

export interface BackoffOptions {
  /** First retry delay (default 500 ms). */
  initialMs?: number;
  /** Upper bound of any delay (default 30 s). */
  maxMs?: number;
  /** Fraction of the delay taken off at random, 0..1 (default 0.5). */
  jitter?: number;
}

/** Delay before retry number `attempt` (0-based): exponential, capped at maxMs, with jitter. */
export function backoffDelay(attempt: number, o: BackoffOptions = {}, random: () => number = Math.random): number {
  const initial = o.initialMs ?? 500;
  const max = o.maxMs ?? 30_000;
  const jitter = Math.min(1, Math.max(0, o.jitter ?? 0.5));
  const base = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  return Math.round(base * (1 - jitter * random()));
}
