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
