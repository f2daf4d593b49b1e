import { addon, type RawVideoTrack } from './addon.js';
import { toNativeError } from './errors.js';
import type { TrackStats, VideoTrackOptions } from './types.js';

/**
 * One encoded video stream (source -> encoder -> RTP packetized once) that any number of
 * peers send. The encoder starts with the first connected peer.
 */
export class VideoTrack {
  /** @internal */
  readonly raw: RawVideoTrack;
  readonly options: Readonly<Required<Pick<VideoTrackOptions, 'source' | 'width' | 'height' | 'fps' | 'bitrateKbps' | 'keyframeInterval'>>> &
    Omit<VideoTrackOptions, 'source' | 'width' | 'height' | 'fps' | 'bitrateKbps' | 'keyframeInterval'>;
  #closed = false;

  constructor(options: VideoTrackOptions = {}) {
    this.options = {
      ...options,
      source: options.source ?? 'pattern',
      width: options.width ?? 640,
      height: options.height ?? 480,
      fps: options.fps ?? 30,
      bitrateKbps: options.bitrateKbps ?? 1000,
      keyframeInterval: options.keyframeInterval ?? 2 * (options.fps ?? 30),
    };
    try {
      this.raw = new (addon().VideoTrack)({ ...this.options });
    } catch (err) {
      throw toNativeError(err);
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Makes the next frame an IDR with SPS/PPS. */
  requestKeyframe(): void {
    this.raw.requestKeyframe();
  }

  setBitrate(kbps: number): void {
    this.raw.setBitrate(kbps);
  }

  stats(): TrackStats {
    return this.raw.stats() as unknown as TrackStats;
  }

  /** Stops the encoder. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.raw.close();
  }
}
