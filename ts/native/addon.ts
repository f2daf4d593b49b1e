// Loads the compiled addon (build/Release/kvs_edge.node) and describes its raw surface.
// Only ts/native talks to it; everything else uses the typed classes in this folder.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface RawVideoTrack {
  requestKeyframe(): void;
  setBitrate(kbps: number): void;
  stats(): Record<string, number | string | boolean>;
  close(): void;
}

/** One V4L2 node as the native side sees it (probeV4l2). */
export interface V4l2NodeInfo {
  path: string;
  opened: boolean;
  error?: string;
  driver?: string;
  card?: string;
  busInfo?: string;
  capabilities?: string[];
  captureFormats?: string[];
  outputFormats?: string[];
  isCapture: boolean;
  isM2M: boolean;
  isH264Encoder: boolean;
}

export interface EncoderBenchResult {
  frames: number;
  encoded: number;
  wallMs: number;
  cpuMs: number;
  renderMs: number;
  bytes: number;
  packets: number;
  latencyMs: number[];
}

export interface RawAudioTrack {
  stats(): Record<string, number>;
  close(): void;
}

export interface RawPeerConnection {
  readonly id: string;
  addTrack(track: RawVideoTrack | RawAudioTrack): void;
  setRemoteOffer(sdp: string): Promise<string>;
  createOffer(options: { video?: boolean; audio?: string; dataChannel?: boolean }): Promise<string>;
  setRemoteAnswer(sdp: string): Promise<string>;
  addRemoteCandidate(init: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null }): void;
  getStats(): Record<string, unknown>;
  createDataChannel(label: string, options: Record<string, unknown>): number;
  sendData(id: number, data: string | Buffer): void;
  closeDataChannel(id: number): void;
  close(): void;
}

export interface RawAddon {
  VideoTrack: new (options: Record<string, unknown>) => RawVideoTrack;
  AudioTrack: new (options: Record<string, unknown>) => RawAudioTrack;
  PeerConnection: new (options: Record<string, unknown>, emit: (event: string, value: unknown) => void) => RawPeerConnection;
  setLogLevel(level: 'error' | 'warn' | 'info' | 'debug'): void;
  certificateFingerprint(): string;
  /** sd_notify: sends `message` as one datagram to the unix socket `socket` (a path or @abstract). */
  notifySocket(socket: string, message: string): void;
  /** Every /dev/video* (or the given nodes): capabilities, formats, M2M H.264 encoder or not. */
  probeV4l2(paths?: string[]): V4l2NodeInfo[];
  benchEncoder(options: { width: number; height: number; frames: number; bitrateKbps?: number; fps?: number }): EncoderBenchResult;
}

function findAddon(): string {
  // ts/native/addon.ts (tsx) and dist/native/addon.js (compiled) are both two levels deep.
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const candidates = [join(root, 'build', 'Release', 'kvs_edge.node'), join(root, 'build', 'Debug', 'kvs_edge.node')];
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(`kvs-edge native addon not built: none of ${candidates.join(', ')} exists; run "npm run setup"`);
  }
  return found;
}

let cached: RawAddon | undefined;

export function addon(): RawAddon {
  if (!cached) {
    const require = createRequire(import.meta.url);
    cached = require(findAddon()) as RawAddon;
  }
  return cached;
}
