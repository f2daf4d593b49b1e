import { addon, type RawAudioTrack } from './addon.js';
import { toNativeError } from './errors.js';
import type { AudioTrackOptions, AudioTrackStats } from './types.js';

/** One audio stream (a tone, raw PCM or an Ogg Opus file) that any number of peers send: Opus, or G.711 for peers that offer only that. */
export class AudioTrack {
  /** @internal */
  readonly raw: RawAudioTrack;
  #closed = false;

  constructor(options: AudioTrackOptions = {}) {
    try {
      this.raw = new (addon().AudioTrack)({ ...options });
    } catch (err) {
      throw toNativeError(err);
    }
  }

  stats(): AudioTrackStats {
    return this.raw.stats() as unknown as AudioTrackStats;
  }

  /** Stops the encoder. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.raw.close();
  }
}
