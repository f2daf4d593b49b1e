// The typed face of the native engine (cpp/addon). No media bytes cross this boundary.
export { PeerConnection } from './peer-connection.js';
export { VideoTrack } from './video-track.js';
export { AudioTrack } from './audio-track.js';
export { NativeError } from './types.js';
export type * from './types.js';
import { addon } from './addon.js';

export function setNativeLogLevel(level: 'error' | 'warn' | 'info' | 'debug'): void {
  addon().setLogLevel(level);
}

/** SHA-256 fingerprint of the process-wide DTLS certificate. */
export function certificateFingerprint(): string {
  return addon().certificateFingerprint();
}

export type { V4l2NodeInfo, EncoderBenchResult } from './addon.js';
import type { V4l2NodeInfo, EncoderBenchResult } from './addon.js';

/** Opens and queries every /dev/video* (or the given nodes): capabilities, formats, and which are V4L2 M2M H.264 encoders. */
export function probeV4l2(paths?: string[]): V4l2NodeInfo[] {
  return addon().probeV4l2(paths);
}

/** Encodes the test pattern with openh264 as fast as it goes and packetizes it (bench/encoder.ts). */
export function benchEncoder(options: { width: number; height: number; frames: number; bitrateKbps?: number; fps?: number }): EncoderBenchResult {
  return addon().benchEncoder(options);
}
