import { EventEmitter } from 'node:events';
import { addon, type RawPeerConnection } from './addon.js';
import { toNativeError } from './errors.js';
import type {
  DataChannelInfo, DataChannelMessage, DataChannelOptions, IceCandidateInit, KeyframeReason, OfferOptions, PeerConnectionEvents, PeerConnectionOptions, PeerState, PeerStats,
} from './types.js';
import type { AudioTrack } from './audio-track.js';
import type { VideoTrack } from './video-track.js';

/**
 * The camera side of one viewer: answers the viewer's offer, trickles ICE candidates, and sends
 * the attached track over DTLS-SRTP. All media work happens in the native engine.
 */
export class PeerConnection extends EventEmitter<PeerConnectionEvents> {
  readonly #raw: RawPeerConnection;
  #state: PeerState = 'new';
  #closed = false;

  constructor(options: PeerConnectionOptions = {}) {
    super();
    const emit = (event: string, value: unknown): void => this.#onNative(event, value);
    try {
      this.#raw = new (addon().PeerConnection)({ ...options }, emit);
    } catch (err) {
      throw toNativeError(err);
    }
  }

  get id(): string {
    return this.#raw.id;
  }

  get state(): PeerState {
    return this.#state;
  }

  /** The video (H.264) or audio (Opus) track this viewer is sent; call before setRemoteOffer. */
  addTrack(track: VideoTrack | AudioTrack): void {
    this.#raw.addTrack(track.raw);
  }

  /** Applies the viewer's offer and resolves with the answer SDP. Rejects with NativeError. */
  async setRemoteOffer(sdp: string): Promise<string> {
    try {
      return await this.#raw.setRemoteOffer(sdp);
    } catch (err) {
      throw toNativeError(err);
    }
  }

  /** Viewer role: creates our offer (H.264 recvonly, optional Opus). Resolves with the SDP. */
  async createOffer(options: OfferOptions = {}): Promise<string> {
    try {
      return await this.#raw.createOffer({ ...options });
    } catch (err) {
      throw toNativeError(err);
    }
  }

  /** Viewer role: applies the camera's answer to our offer. */
  async setRemoteAnswer(sdp: string): Promise<void> {
    try {
      await this.#raw.setRemoteAnswer(sdp);
    } catch (err) {
      throw toNativeError(err);
    }
  }

  /** A remote trickled candidate; an empty candidate string means end-of-candidates. */
  addRemoteCandidate(init: IceCandidateInit): void {
    try {
      this.#raw.addRemoteCandidate({ candidate: init.candidate, sdpMid: init.sdpMid ?? null, sdpMLineIndex: init.sdpMLineIndex ?? null });
    } catch (err) {
      throw toNativeError(err);
    }
  }

  /** Opens a data channel from the camera's side (DTLS must be up); 'datachannel' follows. Returns its id. */
  createDataChannel(label: string, options: DataChannelOptions = {}): number {
    try {
      return this.#raw.createDataChannel(label, { ...options });
    } catch (err) {
      throw toNativeError(err);
    }
  }

  /** Sends a text (string) or binary (Buffer) message on an open channel. */
  sendData(id: number, data: string | Buffer): void {
    try {
      this.#raw.sendData(id, data);
    } catch (err) {
      throw toNativeError(err);
    }
  }

  closeDataChannel(id: number): void {
    this.#raw.closeDataChannel(id);
  }

  async getStats(): Promise<PeerStats> {
    return this.#raw.getStats() as unknown as PeerStats;
  }

  /** Idempotent. Emits 'state' 'closed' once. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#raw.close();
  }

  #onNative(event: string, value: unknown): void {
    switch (event) {
      case 'candidate':
        this.emit('candidate', value as IceCandidateInit);
        break;
      case 'gathering-done':
        this.emit('gathering-done');
        break;
      case 'state':
        this.#state = value as PeerState;
        this.emit('state', this.#state);
        // Closed by the engine (remote close_notify, process teardown): release the native side.
        if (this.#state === 'closed') this.close();
        break;
      case 'keyframe-request':
        this.emit('keyframe-request', value as KeyframeReason);
        break;
      case 'datachannel':
        this.emit('datachannel', value as DataChannelInfo);
        break;
      case 'datachannel-message':
        this.emit('datachannel-message', value as DataChannelMessage);
        break;
      case 'datachannel-close':
        this.emit('datachannel-close', value as { id: number });
        break;
      default:
        break;
    }
  }
}
