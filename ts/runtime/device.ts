// The device runtime: one KVS channel served as MASTER, one shared encoded video track, one
// native PeerConnection per viewer. It is the DeviceController that MQTT remote control drives.
//
// Channel states: stopped -> connecting -> ready (signaling open, no viewer) -> streaming (a
// viewer connected) -> reconnecting (signaling lost, no viewer) / degraded (signaling lost while
// viewers still get media, or a fatal signaling error, retried) -> stopped.
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { loadBoardProfiles, type BoardProfile } from '../config/boards.js';
import type { ConfigStore } from '../config/config-store.js';
import type { Config } from '../config/schema.js';
import { ControlPlane, createChannelSignaling, type IceCandidate, type IceServer, type KvsError, type SessionDescription, type SignalingClient } from '../kvs/index.js';
import type { CredentialsProvider } from '../kvs/Credentials.js';
import { Logger, type LogLevel } from '../log/logger.js';
import { secretValues } from '../log/redact.js';
import { AudioTrack, PeerConnection, VideoTrack, setNativeLogLevel, type VideoTrackOptions } from '../native/index.js';
import type { AudioSinkOptions } from '../native/index.js';
import type { PeerState } from '../native/types.js';
import type {
  ChannelState,
  DeviceController,
  DeviceEvent,
  DeviceEventListener,
  DeviceStatus,
  Telemetry,
  VideoSettings,
  ViewerInfo,
} from './controller.js';
import { credentialsFromConfig } from './credentials.js';
import { runRebootCommand } from './reboot.js';

export interface DeviceOptions {
  store: ConfigStore;
  logger?: Logger;
  version?: string;
  /** Board profile id in use (status); null when unknown. */
  board?: string | null;
  /** The board profile: its encoder device, quirks, control ids and alignment reach the native
   * encoder (video.encoder auto / v4l2m2m). Default: the profile named by `board`, if any. */
  boardProfile?: BoardProfile | null;
  /** Credentials (default: from the configuration). */
  credentials?: CredentialsProvider;
  env?: NodeJS.ProcessEnv;
  /** Extra CA for the control plane and signaling (a local service with its own CA). */
  ca?: string;
  /** How long start() waits for signaling to open before it returns (it keeps trying). */
  startWaitMs?: number;
  /** A viewer whose ICE is 'disconnected' this long is dropped. */
  disconnectedGraceMs?: number;
  /** A viewer not connected this long after its answer is dropped, freeing its slot (default 30 s). */
  connectTimeoutMs?: number;
  /** Restrict the engine's host candidates (tests on loopback). */
  localAddresses?: string[];
  /** Signaling reconnect backoff. */
  backoff?: { initialMs?: number; maxMs?: number };
  /** After a fatal signaling error, retry the whole channel after this long. */
  retryAfterFatalMs?: number;
}

interface Viewer {
  clientId: string;
  pc: PeerConnection;
  connectedAt: string;
  state: PeerState;
  everConnected: boolean;
  disconnectedTimer: NodeJS.Timeout | undefined;
  connectTimer: NodeJS.Timeout | undefined;
  last: { at: number; bytes: number; frames: number } | undefined;
  bitrateKbps: number;
  fps: number;
  audioPacketsReceived: number;
  dataMessagesReceived: number;
}

interface Session {
  cp: ControlPlane;
  signaling: SignalingClient;
  /** Candidates that arrived before the viewer's peer existed. */
  early: Map<string, IceCandidate[]>;
}

export class DeviceError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'DeviceError';
    this.code = code;
  }
}

/** What the encoded track is made from: a change of any of it needs a new track. */
function trackKey(c: Config, video: VideoSettings): string {
  return JSON.stringify([c.video.source, c.video.encoder, c.video.encoderDevice, c.video.captureTimestamps, video.width, video.height, video.fps, c.video.keyframeInterval, c.video.qpMin, c.video.qpMax, c.audio.source, c.audio.path]);
}

/** The native track options for the configured source and encoder, with the board profile's encoder facts. */
export function videoTrackSource(c: Config, board: BoardProfile | null): Omit<VideoTrackOptions, 'width' | 'height' | 'fps' | 'bitrateKbps' | 'keyframeInterval'> {
  const src = c.video.source;
  const source: VideoTrackOptions =
    src.type === 'file'
      ? { source: 'file', path: src.path, loop: src.loop }
      : src.type === 'pipe'
        ? { source: 'pipe', command: src.command, pipeFormat: src.format }
        : src.type === 'v4l2'
          ? { source: 'v4l2', device: src.device, ...(src.format !== 'auto' ? { captureFormat: src.format } : c.video.encoder === 'passthrough' ? { captureFormat: 'H264' } : {}) }
          : { source: 'pattern' };
  const device = c.video.encoderDevice ?? board?.encoders[0]?.device;
  const profile = board?.encoders.find((e) => e.device === device);
  const encoder = c.video.encoder === 'passthrough' ? 'auto' : c.video.encoder;
  return {
    ...source,
    encoder,
    ...(device ? { encoderDevice: device } : {}),
    ...(profile ? { encoderQuirks: profile.quirks } : {}),
    ...(profile?.controls?.bitrate !== undefined ? { encoderBitrateCid: profile.controls.bitrate } : {}),
    ...(profile?.controls?.idrPeriod !== undefined ? { encoderIdrPeriodCid: profile.controls.idrPeriod } : {}),
    ...(profile?.align?.width !== undefined ? { encoderWidthAlign: profile.align.width } : {}),
    ...(profile?.align?.height !== undefined ? { encoderHeightAlign: profile.align.height } : {}),
    captureTimestamps: c.video.captureTimestamps,
  };
}

/**
 * The talk-back sink of one viewer: `{viewer}` in a file path becomes its (sanitized) client id.
 * The client id is the viewer's choice: only letters, digits, '.', '_' and '-' stay, and leading
 * dots become '_', so that it is never a path separator, '.', '..' or a hidden file.
 */
export function talkbackSink(c: Config, clientId: string): { audioSink?: AudioSinkOptions } {
  const tb = c.audio.talkback;
  if (tb.sink === 'command' && tb.command) return { audioSink: { command: tb.command } };
  if (tb.sink === 'file' && tb.path) {
    const safe = clientId.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, (dots) => '_'.repeat(dots.length));
    const path = tb.path.replaceAll('{viewer}', safe);
    return { audioSink: { path, ...(tb.format ? { format: tb.format } : {}) } };
  }
  return {};
}

/** What the channel session is made from: a change of any of it needs a new session. */
function channelKey(c: Config): string {
  return JSON.stringify([c.region, c.endpoints, c.credentials, c.channel, c.ice]);
}

/** An RFC 3264 refusal: the offer's m-lines answered with port 0, the reason in s=. */
export function refusalAnswer(offer: string, reason: string): string {
  const lines = ['v=0', 'o=kvs-edge 0 0 IN IP4 0.0.0.0', `s=${reason.replace(/[\r\n]/g, ' ')}`, 't=0 0'];
  let mid: string | undefined;
  let section: string | undefined;
  const flush = (): void => {
    if (section === undefined) return;
    lines.push(section, 'c=IN IP4 0.0.0.0', 'a=inactive');
    if (mid !== undefined) lines.push(`a=mid:${mid}`);
  };
  for (const l of offer.split(/\r?\n/)) {
    const m = /^m=(\S+) \d+ (\S+) (.*)$/.exec(l);
    if (m) {
      flush();
      section = `m=${m[1]} 0 ${m[2]} ${m[3]}`;
      mid = undefined;
      continue;
    }
    const a = /^a=mid:(.*)$/.exec(l);
    if (a && section !== undefined) mid = a[1];
  }
  flush();
  return lines.join('\r\n') + '\r\n';
}

export class Device implements DeviceController {
  readonly store: ConfigStore;
  readonly #log: Logger;
  readonly #opts: DeviceOptions;
  readonly #events = new EventEmitter<{ event: [DeviceEvent] }>();
  readonly #viewers = new Map<string, Viewer>();
  #state: ChannelState = 'stopped';
  #track: VideoTrack | undefined;
  /** Shared Opus track when audio.source is 'tone'. */
  #audio: AudioTrack | undefined;
  #session: Session | undefined;
  #bitrateKbps: number;
  #video: VideoSettings;
  #ops: Promise<unknown> = Promise.resolve();
  #retryTimer: NodeJS.Timeout | undefined;
  #generation = 0;
  #lastTotal: { at: number; bytes: number } | undefined;
  #trackKey = '';
  #resumeOnRollback = false;
  #channelKey = '';
  readonly #boardProfile: BoardProfile | null;

  constructor(opts: DeviceOptions) {
    this.#opts = opts;
    this.#boardProfile = opts.boardProfile !== undefined ? opts.boardProfile : Device.#profileOf(opts.board);
    this.store = opts.store;
    this.#log = (opts.logger ?? new Logger({ level: 'warn' })).child({ module: 'device' });
    const v = this.store.config.video;
    this.#bitrateKbps = v.bitrate.startKbps;
    this.#video = { width: v.width, height: v.height, fps: v.fps };
  }

  static #profileOf(id: string | null | undefined): BoardProfile | null {
    if (!id) return null;
    try {
      return loadBoardProfiles().find((b) => b.id === id) ?? null;
    } catch {
      return null;
    }
  }

  get state(): ChannelState {
    return this.#state;
  }

  get config(): Config {
    return this.store.config;
  }

  // ---- events ------------------------------------------------------------------------------

  onEvent(listener: DeviceEventListener): () => void {
    this.#events.on('event', listener);
    return () => this.#events.off('event', listener);
  }

  #emit(e: DeviceEvent): void {
    this.#events.emit('event', e);
  }

  #setState(next: ChannelState): void {
    if (next === this.#state) return;
    this.#log.info('channel state', { from: this.#state, to: next });
    this.#state = next;
    this.#emit({ type: 'state', state: next });
  }

  /** The state implied by signaling and viewers (when running). */
  #recomputeState(): void {
    if (this.#state === 'stopped' || !this.#session) return;
    const sig = this.#session.signaling.state;
    const anyConnected = [...this.#viewers.values()].some((v) => v.state === 'connected');
    if (sig === 'open') this.#setState(anyConnected ? 'streaming' : 'ready');
    else if (sig === 'closed') this.#setState('degraded');
    else if (sig === 'connecting') this.#setState(anyConnected ? 'degraded' : 'connecting');
    else this.#setState(anyConnected ? 'degraded' : 'reconnecting');
  }

  /** Serializes start/stop/restart/set-video/set-config: they never interleave. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#ops.then(fn);
    this.#ops = run.catch(() => undefined);
    return run;
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  async status(): Promise<DeviceStatus> {
    return {
      state: this.#state,
      version: this.#opts.version ?? 'unknown',
      board: this.#opts.board ?? null,
      ...this.#encoderStatus(),
      viewers: this.#viewers.size,
      channel: this.store.config.channel.name,
    };
  }

  /** Which encoder runs and why, from the native track (auto's choice and its reason). */
  #encoderStatus(): Pick<DeviceStatus, 'encoder' | 'encoderReason'> {
    if (this.#state === 'stopped' || !this.#track) return { encoder: null, encoderReason: null };
    try {
      const s = this.#track.stats();
      return { encoder: s.encoder, encoderReason: s.encoderReason };
    } catch {
      return { encoder: null, encoderReason: null };
    }
  }

  start(): Promise<DeviceStatus> {
    return this.#serial(async () => {
      if (this.#state === 'stopped') await this.#start();
      return this.status();
    });
  }

  stop(): Promise<DeviceStatus> {
    return this.#serial(async () => {
      await this.#stop('stopped');
      return this.status();
    });
  }

  restart(): Promise<DeviceStatus> {
    return this.#serial(async () => {
      await this.#stop('restart');
      await this.#start();
      return this.status();
    });
  }

  #checkVideo(c: Config): void {
    const v = c.video;
    const h264Source = v.source.type === 'file' || (v.source.type === 'pipe' && v.source.format === 'h264');
    if (h264Source && v.encoder !== 'auto' && v.encoder !== 'passthrough') {
      throw new DeviceError('ERR_UNSUPPORTED', `video.source ${v.source.type} gives H.264 already: video.encoder must be auto or passthrough, got ${v.encoder}`);
    }
    if ((v.source.type === 'pattern' || (v.source.type === 'pipe' && v.source.format !== 'h264')) && v.encoder === 'passthrough') {
      throw new DeviceError('ERR_UNSUPPORTED', `video.encoder passthrough needs an H.264 source; video.source ${v.source.type} gives raw frames`);
    }
    if (c.audio.source === 'alsa') {
      throw new DeviceError('ERR_UNSUPPORTED', 'audio.source alsa is not available in this build (supported: none, tone, file)');
    }
    if (c.audio.talkback.sink === 'alsa') {
      throw new DeviceError('ERR_UNSUPPORTED', 'audio.talkback.sink alsa is not available in this build: use sink "command" with ["aplay", "-f", "S16_LE", "-r", "48000", "-c", "1", "-"]');
    }
  }

  #newTrack(c: Config, video: VideoSettings, kbps: number): VideoTrack {
    this.#checkVideo(c);
    try {
      const track = new VideoTrack({
        ...videoTrackSource(c, this.#boardProfile),
        width: video.width,
        height: video.height,
        fps: video.fps,
        bitrateKbps: kbps,
        keyframeInterval: c.video.keyframeInterval,
        ...(c.video.qpMin !== undefined ? { qpMin: c.video.qpMin } : {}),
        ...(c.video.qpMax !== undefined ? { qpMax: c.video.qpMax } : {}),
      });
      this.#trackKey = trackKey(c, video);
      const s = track.stats();
      this.#log.info('video track', { source: s.source, encoder: s.encoder, reason: s.encoderReason, width: s.width, height: s.height });
      return track;
    } catch (e) {
      throw new DeviceError('ERR_MEDIA', `cannot open the video track: ${(e as Error).message}`);
    }
  }

  #newAudio(c: Config): AudioTrack | undefined {
    if (c.audio.source !== 'tone' && c.audio.source !== 'file') return undefined;
    try {
      return c.audio.source === 'file' ? new AudioTrack({ source: 'ogg', path: c.audio.path ?? '' }) : new AudioTrack({ source: 'tone' });
    } catch (e) {
      throw new DeviceError('ERR_MEDIA', `cannot open the audio track: ${(e as Error).message}`);
    }
  }

  /** `c`: the configuration to run (during a set-config, the store still holds the previous one). */
  async #start(c: Config = this.store.config): Promise<void> {
    const gen = ++this.#generation;
    this.#channelKey = channelKey(c);
    // The configuration's secrets (static keys, ICE server credentials, ...) are scrubbed from
    // every log line, also from text no redaction rule would look into.
    this.#log.addSecrets(secretValues(c));
    this.#setState('connecting');
    try {
      this.#track = this.#newTrack(c, this.#video, this.#bitrateKbps);
      this.#audio = this.#newAudio(c);
      const credentials = this.#opts.credentials ?? credentialsFromConfig(c.credentials, this.#opts.env);
      const cp = new ControlPlane({
        region: c.region,
        channelName: c.channel.name,
        credentials,
        createIfMissing: c.channel.createIfMissing,
        ...(c.endpoints.controlPlane ? { endpoint: c.endpoints.controlPlane } : {}),
        ...(this.#opts.ca ? { ca: this.#opts.ca } : {}),
        ...(!c.ice.kvsStun ? { stunUrls: [] } : {}),
      });
      cp.on('error', (err) => this.#log.warn('control plane', { error: err }));
      const signaling = await createChannelSignaling({
        controlPlane: cp,
        credentials,
        role: 'MASTER',
        trace: (msg, fields) => this.#log.trace(msg, fields),
        ...(this.#opts.ca ? { wsOptions: { ca: this.#opts.ca } } : {}),
        ...(this.#opts.backoff ? { backoff: this.#opts.backoff } : {}),
      });
      const session: Session = { cp, signaling, early: new Map() };
      this.#session = session;
      this.#wire(session, gen);
      const wait = this.#opts.startWaitMs ?? 10_000;
      const opened = signaling.open().then(
        () => true,
        (e: unknown) => {
          this.#log.error('signaling could not open', { error: e as Error });
          return false;
        },
      );
      let timer: NodeJS.Timeout | undefined;
      const ok = await Promise.race([opened, new Promise<boolean>((r) => (timer = setTimeout(() => r(false), wait)))]);
      clearTimeout(timer);
      if (!ok) this.#log.warn('signaling not open yet; still trying', { waitedMs: wait });
      this.#recomputeState();
    } catch (e) {
      await this.#teardown('start-failed');
      this.#setState('stopped');
      throw e;
    }
  }

  #wire(session: Session, gen: number): void {
    const { signaling } = session;
    const current = (): boolean => this.#session === session && this.#generation === gen;
    signaling.on('open', (info) => {
      if (!current()) return;
      this.#log.info('signaling open', { reconnect: info.reconnect, reason: info.reason });
      if (info.reconnect) this.#emit({ type: 'reconnect', reason: info.reason });
      this.#recomputeState();
    });
    signaling.on('disconnected', (info) => {
      if (!current()) return;
      this.#log.warn('signaling disconnected', info);
      this.#recomputeState();
    });
    signaling.on('reconnecting', (info) => {
      if (!current()) return;
      this.#log.info('signaling reconnecting', { attempt: info.attempt, delayMs: info.delayMs, error: info.error });
      this.#recomputeState();
    });
    signaling.on('error', (err: KvsError) => {
      if (!current()) return;
      this.#log.error('signaling error', { error: err });
      this.#emit({ type: 'error', code: err.code, message: err.message });
    });
    signaling.on('close', () => {
      if (!current() || this.#state === 'stopped') return;
      // Closed by a fatal error (refused credentials, unknown channel): retry later, keep viewers.
      this.#setState('degraded');
      const ms = this.#opts.retryAfterFatalMs ?? 30_000;
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        if (current()) void this.restart().catch((e: unknown) => this.#log.error('restart after error failed', { error: e as Error }));
      }, ms);
      this.#retryTimer.unref();
    });
    signaling.on('badMessage', (reason) => this.#log.debug('signaling bad message', { reason }));
    signaling.on('sdpOffer', (offer, clientId) => {
      if (current()) void this.#onOffer(session, offer, clientId);
    });
    signaling.on('iceCandidate', (c, clientId) => {
      if (!current()) return;
      const v = this.#viewers.get(clientId);
      if (v) {
        try {
          v.pc.addRemoteCandidate(c);
        } catch (e) {
          this.#log.debug('remote candidate refused', { clientId, error: e as Error });
        }
      } else {
        // Bounded: at most 64 candidates for each of at most 32 viewers not answered yet.
        const list = session.early.get(clientId) ?? [];
        if (list.length < 64) list.push(c);
        if (!session.early.has(clientId) && session.early.size >= 32) {
          const oldest = session.early.keys().next().value;
          if (oldest !== undefined) session.early.delete(oldest);
        }
        session.early.set(clientId, list);
      }
    });
  }

  async #iceServers(session: Session): Promise<IceServer[]> {
    const c = this.store.config;
    const servers: IceServer[] = [];
    if (c.ice.kvsTurn) {
      try {
        servers.push(...(await session.cp.getIceServers('MASTER')));
      } catch (e) {
        this.#log.warn('GetIceServerConfig failed; going on with STUN only', { error: e as Error });
        servers.push(...session.cp.stunUrls.map((u) => ({ urls: [u] })));
      }
    } else {
      servers.push(...session.cp.stunUrls.map((u) => ({ urls: [u] })));
    }
    for (const s of c.ice.servers) {
      const entry: IceServer = { urls: Array.isArray(s.urls) ? [...s.urls] : [s.urls] };
      if (s.username !== undefined) entry.username = s.username;
      if (s.credential !== undefined) entry.credential = s.credential;
      servers.push(entry);
    }
    // TURN credentials are secrets: the logger redacts them here, and scrubs them from any text.
    this.#log.addSecrets(secretValues(servers));
    this.#log.trace('ice servers', { servers });
    return servers;
  }

  async #onOffer(session: Session, offer: SessionDescription, clientId: string): Promise<void> {
    const log = this.#log.child({ viewer: clientId });
    const track = this.#track;
    if (!track) return;
    const existing = this.#viewers.get(clientId);
    if (existing) this.#dropViewer(existing, 'replaced by a new offer');
    const max = this.store.config.viewers.max;
    if (this.#viewers.size >= max) {
      const reason = `kvs-edge: viewer limit reached (${max} viewers); try again later`;
      log.warn('viewer refused: limit reached', { max });
      session.early.delete(clientId);
      try {
        session.signaling.sendSdpAnswer({ type: 'answer', sdp: refusalAnswer(offer.sdp, reason) }, clientId);
      } catch (e) {
        log.debug('refusal not sent', { error: e as Error });
      }
      this.#emit({ type: 'error', code: 'ERR_VIEWER_LIMIT', message: `viewer ${clientId} refused: ${max} viewers already connected` });
      return;
    }
    let pc: PeerConnection | undefined;
    try {
      const iceServers = await this.#iceServers(session);
      if (this.#session !== session || this.#track !== track) return;
      pc = new PeerConnection({
        id: clientId,
        iceServers,
        iceTransportPolicy: this.store.config.ice.transportPolicy,
        iceTcpCandidates: this.store.config.ice.tcpCandidates,
        ...(this.#opts.localAddresses ? { localAddresses: this.#opts.localAddresses } : {}),
        // The clientId cannot leave the directory: it has no '/' (KVS allows [a-zA-Z0-9_.-]).
        ...talkbackSink(this.store.config, clientId),
      });
      const v: Viewer = {
        clientId,
        pc,
        connectedAt: new Date().toISOString(),
        state: 'new',
        everConnected: false,
        disconnectedTimer: undefined,
        connectTimer: undefined,
        last: undefined,
        bitrateKbps: 0,
        fps: 0,
        audioPacketsReceived: 0,
        dataMessagesReceived: 0,
      };
      // Counted from now on, so concurrent offers cannot pass the limit.
      this.#viewers.set(clientId, v);
      // A viewer that never connects (it went away, or its candidates never arrive) must not
      // keep its slot.
      v.connectTimer = setTimeout(() => {
        if (!v.everConnected) this.#dropViewer(v, 'connect-timeout');
      }, this.#opts.connectTimeoutMs ?? 30_000);
      v.connectTimer.unref();
      pc.addTrack(track);
      if (this.#audio) pc.addTrack(this.#audio);
      pc.on('candidate', (c) => {
        if (!c.candidate || this.#viewers.get(clientId) !== v) return;
        try {
          session.signaling.sendIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null }, clientId);
        } catch (e) {
          log.debug('candidate not sent', { error: e as Error });
        }
      });
      pc.on('state', (s) => this.#onPeerState(v, s));
      // Data channels (the KVS SDK's kvsDataChannel, or any other the viewer opens): every
      // message comes back on the same channel, text as text and binary as binary.
      pc.on('datachannel-message', ({ id, data }) => {
        try {
          pc?.sendData(id, data);
        } catch (e) {
          log.debug('data channel echo not sent', { channel: id, error: e as Error });
        }
      });
      const answer = await pc.setRemoteOffer(offer.sdp);
      if (this.#viewers.get(clientId) !== v) return;
      session.signaling.sendSdpAnswer({ type: 'answer', sdp: answer }, clientId);
      for (const c of session.early.get(clientId) ?? []) {
        try {
          pc.addRemoteCandidate(c);
        } catch {
          /* a bad early candidate does not end the viewer */
        }
      }
      session.early.delete(clientId);
      log.info('viewer answered', { viewers: this.#viewers.size });
      this.#emit({ type: 'viewer-joined', clientId });
    } catch (e) {
      const err = e as Error & { code?: string };
      log.warn('offer refused', { error: err });
      const v = this.#viewers.get(clientId);
      if (v && v.pc === pc) this.#viewers.delete(clientId);
      pc?.close();
      session.early.delete(clientId);
      this.#emit({ type: 'error', code: err.code ?? 'ERR_OFFER', message: `offer from ${clientId}: ${err.message}` });
    }
  }

  #onPeerState(v: Viewer, s: PeerState): void {
    if (this.#viewers.get(v.clientId) !== v) return;
    v.state = s;
    this.#log.debug('viewer state', { viewer: v.clientId, state: s });
    if (v.disconnectedTimer && s !== 'disconnected') {
      clearTimeout(v.disconnectedTimer);
      v.disconnectedTimer = undefined;
    }
    if (s === 'connected') {
      v.everConnected = true;
      if (v.connectTimer) clearTimeout(v.connectTimer);
      v.connectTimer = undefined;
    }
    if (s === 'failed') this.#dropViewer(v, 'ice-failed');
    else if (s === 'closed') this.#dropViewer(v, 'closed');
    else if (s === 'disconnected' && !v.disconnectedTimer) {
      v.disconnectedTimer = setTimeout(() => this.#dropViewer(v, 'disconnected'), this.#opts.disconnectedGraceMs ?? 10_000);
      v.disconnectedTimer.unref();
    }
    this.#recomputeState();
  }

  #dropViewer(v: Viewer, reason: string): void {
    if (this.#viewers.get(v.clientId) !== v) return;
    this.#viewers.delete(v.clientId);
    if (v.disconnectedTimer) clearTimeout(v.disconnectedTimer);
    if (v.connectTimer) clearTimeout(v.connectTimer);
    v.pc.close();
    this.#log.info('viewer left', { viewer: v.clientId, reason, viewers: this.#viewers.size });
    this.#emit({ type: 'viewer-left', clientId: v.clientId, reason });
    this.#recomputeState();
  }

  async #teardown(reason: string): Promise<void> {
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    for (const v of [...this.#viewers.values()]) this.#dropViewer(v, reason);
    const s = this.#session;
    this.#session = undefined;
    if (s) {
      s.signaling.close();
      s.cp.close();
    }
    this.#track?.close();
    this.#track = undefined;
    this.#audio?.close();
    this.#audio = undefined;
    this.#lastTotal = undefined;
  }

  async #stop(reason: string): Promise<void> {
    if (this.#state === 'stopped' && !this.#session && !this.#track) return;
    this.#generation++;
    // Stopped first, so the viewers' departures do not recompute a running state.
    const wasRunning = this.#state !== 'stopped';
    this.#state = 'stopped';
    await this.#teardown(reason);
    if (wasRunning) {
      this.#log.info('channel state', { to: 'stopped', reason });
      this.#emit({ type: 'state', state: 'stopped' });
    }
  }

  // ---- media controls ----------------------------------------------------------------------

  async keyframe(): Promise<void> {
    if (!this.#track) throw new DeviceError('ERR_STOPPED', 'the device is stopped: no encoder to ask for a keyframe');
    this.#track.requestKeyframe();
  }

  #clamp(kbps: number, c: Config = this.store.config): number {
    const b = c.video.bitrate;
    return Math.min(b.maxKbps, Math.max(b.minKbps, Math.round(kbps)));
  }

  async setBitrate(kbps: number): Promise<{ kbps: number }> {
    const set = this.#clamp(kbps);
    this.#bitrateKbps = set;
    this.#track?.setBitrate(set);
    this.#log.info('bitrate set', { kbps: set, asked: kbps });
    return { kbps: set };
  }

  /** Replaces the track (new size/fps): viewers are dropped and re-offer to get the new stream. */
  async #replaceTrack(c: Config, video: VideoSettings, reason: string): Promise<void> {
    if (!this.#track) return;
    const next = this.#newTrack(c, video, this.#bitrateKbps);
    let audio: AudioTrack | undefined;
    try {
      audio = this.#newAudio(c);
    } catch (e) {
      next.close();
      throw e;
    }
    for (const v of [...this.#viewers.values()]) this.#dropViewer(v, reason);
    const old = this.#track;
    this.#track = next;
    old.close();
    this.#audio?.close();
    this.#audio = audio;
  }

  setVideo(settings: VideoSettings): Promise<VideoSettings> {
    return this.#serial(async () => {
      const video = { width: settings.width, height: settings.height, fps: settings.fps };
      await this.#replaceTrack(this.store.config, video, 'video-changed');
      this.#video = video;
      return { ...video };
    });
  }

  async viewers(): Promise<ViewerInfo[]> {
    await this.#sampleViewers();
    return [...this.#viewers.values()].map((v) => this.#viewerInfo(v));
  }

  #viewerInfo(v: Viewer): ViewerInfo {
    return {
      clientId: v.clientId,
      connectedAt: v.connectedAt,
      bitrateKbps: v.bitrateKbps,
      fps: v.fps,
      rttMs: this.#rtt.get(v) ?? null,
      lossPct: this.#loss.get(v) ?? null,
      audioPacketsReceived: v.audioPacketsReceived,
      dataMessagesReceived: v.dataMessagesReceived,
    };
  }

  readonly #rtt = new WeakMap<Viewer, number>();
  readonly #loss = new WeakMap<Viewer, number>();

  async #sampleViewers(): Promise<void> {
    const now = performance.now();
    for (const v of this.#viewers.values()) {
      let st;
      try {
        st = await v.pc.getStats();
      } catch {
        continue;
      }
      if (v.last && now - v.last.at > 200) {
        const dt = (now - v.last.at) / 1000;
        v.bitrateKbps = Math.round(((st.bytesSent - v.last.bytes) * 8) / 1000 / dt);
        v.fps = Math.round(((st.framesSent - v.last.frames) / dt) * 10) / 10;
      }
      if (!v.last || now - v.last.at > 200) v.last = { at: now, bytes: st.bytesSent, frames: st.framesSent };
      v.audioPacketsReceived = st.audioPacketsReceived;
      v.dataMessagesReceived = st.dataMessagesReceived;
      if (typeof st.rttMs === 'number') this.#rtt.set(v, Math.round(st.rttMs * 10) / 10);
      if (typeof st.fractionLost === 'number') {
        // RTCP fraction lost is 0..1 here or 0..255 (raw): report a percentage either way.
        const f = st.fractionLost > 1 ? st.fractionLost / 256 : st.fractionLost;
        this.#loss.set(v, Math.round(f * 1000) / 10);
      }
    }
  }

  async telemetry(): Promise<Telemetry> {
    await this.#sampleViewers();
    const viewers = [...this.#viewers.values()].map((v) => this.#viewerInfo(v));
    const ts = this.#track?.stats();
    let encoderKbps = 0;
    if (ts) {
      const now = performance.now();
      if (this.#lastTotal && now - this.#lastTotal.at > 200) {
        encoderKbps = Math.round(((ts.bytesEncoded - this.#lastTotal.bytes) * 8) / (now - this.#lastTotal.at));
      }
      this.#lastTotal = { at: now, bytes: ts.bytesEncoded };
    }
    const total = {
      bitrateKbps: viewers.reduce((s, v) => s + v.bitrateKbps, 0),
      fps: viewers.length ? Math.max(...viewers.map((v) => v.fps)) : 0,
    };
    return Object.assign({ viewers, total }, ts ? { encoder: { name: ts.encoder, targetKbps: this.#bitrateKbps, measuredKbps: encoderKbps, framesEncoded: ts.framesEncoded, width: ts.width, height: ts.height, fps: ts.fps } } : {});
  }

  async kickViewer(clientId: string): Promise<boolean> {
    const v = this.#viewers.get(clientId);
    if (!v) return false;
    this.#dropViewer(v, 'kicked');
    return true;
  }

  // ---- configuration -----------------------------------------------------------------------

  async getConfig(): Promise<Config> {
    return this.store.config;
  }

  setConfig(patch: Record<string, unknown>): Promise<Config> {
    return this.#serial(() => this.store.update(patch, (next, previous) => this.#apply(next, previous)));
  }

  /**
   * Applies a configuration live; throws (and the store rolls back) when it cannot. Compared with
   * what actually runs, so re-applying the running version after a failure changes nothing.
   */
  async #apply(next: Config, previous: Config): Promise<void> {
    // A change whose restart failed left the channel stopped: the rollback starts it again.
    const running = this.#state !== 'stopped' || this.#resumeOnRollback;
    this.#resumeOnRollback = false;
    this.#checkVideo(next);
    if (next.logging.level !== previous.logging.level) await this.setLogLevel(next.logging.level);
    const pv = previous.video;
    const nv = next.video;
    const sizeChanged = nv.width !== pv.width || nv.height !== pv.height || nv.fps !== pv.fps;
    const video = sizeChanged ? { width: nv.width, height: nv.height, fps: nv.fps } : this.#video;
    if (this.#track && trackKey(next, video) !== this.#trackKey) await this.#replaceTrack(next, video, 'config-changed');
    this.#video = video;
    if (JSON.stringify(nv.bitrate) !== JSON.stringify(pv.bitrate)) {
      this.#bitrateKbps = this.#clamp(nv.bitrate.startKbps, next);
    } else {
      this.#bitrateKbps = this.#clamp(this.#bitrateKbps, next);
    }
    this.#track?.setBitrate(this.#bitrateKbps);
    // Fewer viewers allowed: the most recent ones go.
    const extra = this.#viewers.size - next.viewers.max;
    if (extra > 0) for (const v of [...this.#viewers.values()].slice(-extra)) this.#dropViewer(v, 'viewer-limit-lowered');
    if (running && (channelKey(next) !== this.#channelKey || this.#state === 'stopped')) {
      // The store already holds `next`; restart the channel on it.
      await this.#stop('config-changed');
      try {
        await this.#start(next);
      } catch (e) {
        this.#resumeOnRollback = true;
        throw e;
      }
    }
  }

  async setLogLevel(level: LogLevel): Promise<void> {
    this.#log.setLevel(level);
    const native = level === 'trace' ? 'debug' : level === 'fatal' || level === 'silent' ? 'error' : level;
    try {
      setNativeLogLevel(native);
    } catch {
      /* the addon may not be loaded yet */
    }
  }

  async reboot(): Promise<void> {
    const cmd = this.store.config.system.reboot;
    if (!cmd.enabled) throw new DeviceError('ERR_DISABLED', 'reboot is disabled (system.reboot.enabled is false)');
    this.#log.warn('reboot requested', { command: cmd.command });
    await runRebootCommand(cmd.command);
  }
}
