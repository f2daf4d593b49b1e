// What the MQTT remote (and any other control surface) may ask of a running device. The real
// implementation sits on the native engine and the KVS session; tests use an in-memory one.
import type { Config } from '../config/schema.js';
import type { LogLevel } from '../log/logger.js';

export type ChannelState = 'stopped' | 'connecting' | 'ready' | 'streaming' | 'degraded' | 'reconnecting';

export interface DeviceStatus {
  state: ChannelState;
  version: string;
  board: string | null;
  /** The encoder in use ('v4l2m2m', 'openh264', 'passthrough'), or null while stopped. */
  encoder: string | null;
  /** Why that encoder: auto's choice (e.g. "auto: /dev/video11: No such file or directory; software encoder"). */
  encoderReason?: string | null;
  viewers: number;
  channel: string;
}

export interface ViewerInfo {
  clientId: string;
  connectedAt: string;
  bitrateKbps: number;
  fps: number;
  rttMs: number | null;
  lossPct: number | null;
  /** Talk-back (the viewer's microphone) RTP packets received, when the device takes talk-back. */
  audioPacketsReceived?: number;
  /** Data-channel messages received from this viewer (each is echoed back). */
  dataMessagesReceived?: number;
}

export interface VideoSettings {
  width: number;
  height: number;
  fps: number;
}

export interface Telemetry {
  viewers: ViewerInfo[];
  total: { bitrateKbps: number; fps: number };
}

/** Things that happen on the device that a fleet manager wants to hear about. */
export type DeviceEvent =
  | { type: 'state'; state: ChannelState }
  | { type: 'viewer-joined'; clientId: string }
  | { type: 'viewer-left'; clientId: string; reason: string }
  | { type: 'reconnect'; reason: string }
  | { type: 'error'; code: string; message: string }
  | { type: 'config-applied'; changed: string[] }
  | { type: 'config-rolled-back'; code: string; message: string };

export type DeviceEventListener = (event: DeviceEvent) => void;

export interface DeviceController {
  status(): Promise<DeviceStatus>;
  /** Idempotent: start when started is a no-op. */
  start(): Promise<DeviceStatus>;
  stop(): Promise<DeviceStatus>;
  restart(): Promise<DeviceStatus>;
  /** Asks the encoder for an IDR now. */
  keyframe(): Promise<void>;
  /** Sets the target bitrate; returns the bitrate actually set (clamped to the configured bounds). */
  setBitrate(kbps: number): Promise<{ kbps: number }>;
  setVideo(settings: VideoSettings): Promise<VideoSettings>;
  viewers(): Promise<ViewerInfo[]>;
  /** Returns false when no viewer has that id. */
  kickViewer(clientId: string): Promise<boolean>;
  getConfig(): Promise<Config>;
  /**
   * Applies an RFC 7396 merge patch: validated, written crash-safely, applied live; when applying
   * fails the previous configuration is restored and the promise rejects with a `code`
   * (ERR_CONFIG_INVALID: nothing changed; ERR_CONFIG_APPLY_FAILED: rolled back).
   */
  setConfig(patch: Record<string, unknown>): Promise<Config>;
  setLogLevel(level: LogLevel): Promise<void>;
  /** Runs the configured reboot command (argv, no shell). Only called when the configuration enables it. */
  reboot(): Promise<void>;
  telemetry(): Promise<Telemetry>;
  /** Subscribes to device events; returns the unsubscribe function. */
  onEvent(listener: DeviceEventListener): () => void;
}
