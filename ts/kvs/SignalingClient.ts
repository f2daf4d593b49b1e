import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { WebSocket, type ClientOptions, type RawData } from 'ws';
import { Clock } from './Clock.js';
import type { CredentialsProvider } from './Credentials.js';
import { AUTH_FAILURE_TYPES, KvsError, KvsUsageError, errorMessage } from './KvsError.js';
import { presignSignalingUrl } from './presign.js';
import {
  backoffDelay,
  type BackoffOptions,
  type ChannelRole,
  type IceCandidate,
  type SessionDescription,
  type StatusResponse,
} from './types.js';

/**
 * A KVS signaling connection (master or viewer) on `ws`, SigV4 query-presigned. It stays
 * connected on its own: ping keepalive, reconnect with exponential backoff and jitter after any
 * loss, a make-before-break reconnect before the 1 h connection limit and on GO_AWAY (peers whose
 * media already flows are not touched: only this socket changes), ICE refresh on
 * RECONNECT_ICE_SERVER. Credentials the service refuses end it with one `error` (ERR_KVS_AUTH),
 * never a retry loop.
 */
export interface SignalingClientOptions {
  role: ChannelRole;
  /** Required for a viewer (X-Amz-ClientId), absent for the master. */
  clientId?: string;
  region: string;
  /** The channel ARN, or how to get it (asked at each connection attempt until it answers). */
  channelArn: string | (() => Promise<string>);
  /** The WSS endpoint; `refresh` is true after failures, to ask the control plane again. */
  resolveEndpoint: (opts: { refresh: boolean }) => Promise<string>;
  credentials: CredentialsProvider;
  clock?: Clock;
  /** Called on RECONNECT_ICE_SERVER (e.g. controlPlane.getIceServers(role, id, { forceRefresh: true })). */
  refreshIceServers?: () => Promise<unknown>;
  /** Options for `ws` (e.g. `ca` for a local service with its own CA). */
  wsOptions?: ClientOptions;
  pingIntervalMs?: number;
  /** No pong within this time: the connection is taken for dead (default 10 s). */
  pongTimeoutMs?: number;
  openTimeoutMs?: number;
  backoff?: BackoffOptions;
  /** The service ends connections after this long (KVS: 1 h). */
  maxConnectionMs?: number;
  /** Reconnect this long before maxConnectionMs (default 5 min). */
  reconnectMarginMs?: number;
  /** X-Amz-Expires of the presigned URL (default 299, AWS accepts up to 604800). */
  presignExpiresSec?: number;
  /** Re-resolve the endpoint after this many failed attempts in a row (default 2). */
  refreshEndpointAfterFailures?: number;
  /**
   * Trace of the connection and of every message in and out (a logger's trace; it redacts the
   * presigned URL's X-Amz-Credential, X-Amz-Signature and X-Amz-Security-Token).
   */
  trace?: (msg: string, fields: Record<string, unknown>) => void;
}

export type SignalingState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface SignalingClientEvents {
  open: [info: { reconnect: boolean; reason: string }];
  sdpOffer: [offer: SessionDescription, senderClientId: string];
  sdpAnswer: [answer: SessionDescription, senderClientId: string];
  iceCandidate: [candidate: IceCandidate, senderClientId: string];
  statusResponse: [status: StatusResponse];
  goAway: [];
  reconnectIceServer: [];
  /** The socket went away; a reconnect follows unless the client is closed. */
  disconnected: [info: { code: number; reason: string }];
  reconnecting: [info: { attempt: number; delayMs: number; error: KvsError | undefined }];
  /** A message from the service that could not be understood (ignored). */
  badMessage: [reason: string];
  error: [err: KvsError];
  close: [];
}

interface Candidate {
  ws: WebSocket;
  openedAt: number;
}

function pick(obj: Record<string, unknown>, camel: string): unknown {
  if (obj[camel] !== undefined) return obj[camel];
  return obj[camel.charAt(0).toUpperCase() + camel.slice(1)];
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
}

const MAX_PAYLOAD = 10 * 1024;

/** A message from the signaling service, as parsed from one WebSocket frame. */
export type SignalingMessage = (
  | { kind: 'goAway' }
  | { kind: 'reconnectIceServer' }
  | { kind: 'statusResponse'; status: StatusResponse }
  | { kind: 'iceCandidate'; candidate: IceCandidate; sender: string }
  | { kind: 'sdpOffer' | 'sdpAnswer'; description: SessionDescription; sender: string }
  | { kind: 'bad'; reason: string }
) & {
  /** For the trace, once the frame is a JSON object: its type, sender and size. */
  seen?: { messageType: string | undefined; senderClientId: string; bytes: number };
};

/** Parses one frame from the service (its text carries a viewer's content); never throws. */
export function parseSignalingMessage(data: RawData | string, isBinary: boolean): SignalingMessage {
  if (isBinary) return { kind: 'bad', reason: 'binary frame' };
  const text =
    typeof data === 'string'
      ? data
      : Array.isArray(data)
        ? Buffer.concat(data).toString('utf8')
        : Buffer.from(data as ArrayBuffer).toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { kind: 'bad', reason: `not JSON: ${text.slice(0, 80)}` };
  }
  if (typeof parsed !== 'object' || parsed === null) return { kind: 'bad', reason: 'not a JSON object' };
  const msg = parsed as Record<string, unknown>;
  const type = str(pick(msg, 'messageType'));
  const sender = str(pick(msg, 'senderClientId')) ?? '';
  const seen = { messageType: type, senderClientId: sender, bytes: text.length };
  const bad = (reason: string): SignalingMessage => ({ kind: 'bad', reason, seen });
  switch (type) {
    case 'GO_AWAY':
      return { kind: 'goAway', seen };
    case 'RECONNECT_ICE_SERVER':
      return { kind: 'reconnectIceServer', seen };
    case 'STATUS_RESPONSE': {
      const s = pick(msg, 'statusResponse');
      const sr = typeof s === 'object' && s !== null ? (s as Record<string, unknown>) : {};
      return {
        kind: 'statusResponse',
        seen,
        status: {
          correlationId: str(pick(sr, 'correlationId')),
          errorType: str(pick(sr, 'errorType')),
          statusCode: str(pick(sr, 'statusCode')),
          description: str(pick(sr, 'description')),
        },
      };
    }
    case 'SDP_OFFER':
    case 'SDP_ANSWER':
    case 'ICE_CANDIDATE':
      break;
    default:
      return bad(`unknown messageType ${JSON.stringify(type ?? null)}`);
  }
  const raw = str(pick(msg, 'messagePayload'));
  let payload: Record<string, unknown>;
  try {
    const p: unknown = JSON.parse(Buffer.from(raw ?? '', 'base64').toString('utf8'));
    if (typeof p !== 'object' || p === null) throw new Error('not an object');
    payload = p as Record<string, unknown>;
  } catch {
    return bad(`${type}: messagePayload is not base64 JSON`);
  }
  if (type === 'ICE_CANDIDATE') {
    const candidate = str(payload['candidate']);
    if (candidate === undefined) return bad('ICE_CANDIDATE without candidate');
    const c: IceCandidate = { candidate };
    const mid = payload['sdpMid'];
    if (typeof mid === 'string' || mid === null) c.sdpMid = mid;
    const idx = payload['sdpMLineIndex'];
    if (typeof idx === 'number' || idx === null) c.sdpMLineIndex = idx;
    return { kind: 'iceCandidate', candidate: c, sender, seen };
  }
  const sdp = str(payload['sdp']);
  if (sdp === undefined) return bad(`${type} without sdp`);
  if (type === 'SDP_OFFER') return { kind: 'sdpOffer', description: { type: 'offer', sdp }, sender, seen };
  return { kind: 'sdpAnswer', description: { type: 'answer', sdp }, sender, seen };
}

export class SignalingClient extends EventEmitter<SignalingClientEvents> {
  readonly role: ChannelRole;
  readonly clientId: string | undefined;
  private readonly clock: Clock;
  private current: Candidate | undefined;
  private stateValue: SignalingState = 'idle';
  private loop: Promise<void> | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private pongTimer: NodeJS.Timeout | undefined;
  private lifeTimer: NodeJS.Timeout | undefined;
  private sleepTimer: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  private connectedOnce = false;
  private openWaiters: Array<{ resolve: () => void; reject: (e: KvsError) => void }> = [];

  constructor(private readonly opts: SignalingClientOptions) {
    super();
    if (opts.role === 'VIEWER' && !opts.clientId) {
      throw new KvsUsageError('a VIEWER needs a clientId');
    }
    if (opts.role === 'MASTER' && opts.clientId !== undefined) {
      throw new KvsUsageError('the MASTER has no clientId');
    }
    if (opts.clientId !== undefined && !/^[a-zA-Z0-9_.-]{1,256}$/.test(opts.clientId)) {
      throw new KvsUsageError(`clientId "${opts.clientId}" must match [a-zA-Z0-9_.-]{1,256}`);
    }
    this.role = opts.role;
    this.clientId = opts.clientId;
    this.clock = opts.clock ?? new Clock();
  }

  /**
   * Errors go to 'error' listeners; with none, they are dropped rather than thrown (an
   * EventEmitter 'error' with no listener would end the process of a camera).
   */
  private report(err: KvsError): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  get state(): SignalingState {
    return this.stateValue;
  }

  /** Connects; resolves when connected, rejects on an error that retrying cannot fix. */
  open(): Promise<void> {
    if (this.stateValue === 'closed') return Promise.reject(new KvsError('ERR_KVS_CLOSED', 'signaling client is closed'));
    if (this.stateValue === 'open') return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => this.openWaiters.push({ resolve, reject }));
    if (this.stateValue === 'idle') this.startLoop('open', false);
    return p;
  }

  /** Idempotent: closes the socket, stops every timer, emits `close` once. */
  close(): void {
    if (this.stateValue === 'closed') return;
    this.stateValue = 'closed';
    this.stopTimers();
    if (this.sleepTimer) {
      clearTimeout(this.sleepTimer.timer);
      this.sleepTimer.wake();
    }
    const cur = this.current;
    this.current = undefined;
    if (cur) this.closeSocket(cur.ws, 1000, 'client closed');
    this.settleWaiters(new KvsError('ERR_KVS_CLOSED', 'signaling client closed before it connected'));
    this.emit('close');
  }

  /** Make-before-break reconnect (also what GO_AWAY and the 1 h limit trigger). */
  reconnect(reason = 'requested'): void {
    if (this.stateValue === 'closed' || this.loop) return;
    this.startLoop(reason, true);
  }

  sendSdpOffer(offer: SessionDescription, recipientClientId?: string, correlationId?: string): string | undefined {
    return this.send('SDP_OFFER', { type: offer.type, sdp: offer.sdp }, recipientClientId, correlationId);
  }

  sendSdpAnswer(answer: SessionDescription, recipientClientId?: string, correlationId?: string): string | undefined {
    return this.send('SDP_ANSWER', { type: answer.type, sdp: answer.sdp }, recipientClientId, correlationId);
  }

  sendIceCandidate(candidate: IceCandidate, recipientClientId?: string, correlationId?: string): string | undefined {
    return this.send('ICE_CANDIDATE', candidate, recipientClientId, correlationId);
  }

  /** A fresh correlation id (KVS answers errors with STATUS_RESPONSE only when one is given). */
  static newCorrelationId(): string {
    return randomUUID();
  }

  private send(action: string, payload: object, recipientClientId: string | undefined, correlationId: string | undefined): string | undefined {
    if (this.role === 'MASTER' && !recipientClientId) {
      throw new KvsUsageError(`${action}: the master must name the viewer (recipientClientId)`);
    }
    if (this.role === 'VIEWER' && recipientClientId) {
      throw new KvsUsageError(`${action}: a viewer sends only to the master (no recipientClientId)`);
    }
    if (correlationId !== undefined && !/^[a-zA-Z0-9_.-]{1,256}$/.test(correlationId)) {
      throw new KvsUsageError(`correlationId "${correlationId}" must match [a-zA-Z0-9_.-]{1,256}`);
    }
    const messagePayload = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64');
    if (messagePayload.length > MAX_PAYLOAD) {
      throw new KvsUsageError(`${action}: payload is ${messagePayload.length} bytes in base64, over the 10 KB limit of KVS`);
    }
    const ws = this.current?.ws;
    if (this.stateValue !== 'open' && this.stateValue !== 'reconnecting') {
      throw new KvsError('ERR_KVS_NOT_OPEN', `${action}: signaling is ${this.stateValue}`);
    }
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      throw new KvsError('ERR_KVS_NOT_OPEN', `${action}: the signaling connection is down (reconnecting)`);
    }
    const msg: Record<string, string> = { action, messagePayload };
    if (recipientClientId) msg['recipientClientId'] = recipientClientId;
    if (correlationId) msg['correlationId'] = correlationId;
    this.opts.trace?.('signaling send', { action, recipientClientId, correlationId, payloadBytes: messagePayload.length });
    ws.send(JSON.stringify(msg));
    return correlationId;
  }

  // ---- connection loop -----------------------------------------------------------------

  private settleWaiters(err?: KvsError): void {
    const waiters = this.openWaiters;
    this.openWaiters = [];
    for (const w of waiters) {
      if (err) w.reject(err);
      else w.resolve();
    }
  }

  private startLoop(reason: string, immediate: boolean): void {
    if (this.stateValue === 'idle') this.stateValue = 'connecting';
    else if (this.stateValue !== 'closed') this.stateValue = this.current ? this.stateValue : 'reconnecting';
    this.loop = this.connectLoop(reason, immediate).finally(() => {
      this.loop = undefined;
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.sleepTimer = undefined;
        resolve();
      }, ms);
      this.sleepTimer = { timer, wake: resolve };
    });
  }

  private isClosed(): boolean {
    return this.stateValue === 'closed';
  }

  private fatal(err: KvsError): void {
    this.report(err);
    this.settleWaiters(err);
    this.close();
  }

  private async connectLoop(reason: string, immediate: boolean): Promise<void> {
    let attempt = 0;
    let failuresInRow = 0;
    let skewRetried = false;
    let tokenRetried = false;
    let lastError: KvsError | undefined;
    if (!immediate) {
      // first connection, or reconnect after a loss: the first try is at once only for open()
      if (this.connectedOnce) {
        const delayMs = backoffDelay(0, this.opts.backoff);
        this.emit('reconnecting', { attempt: 0, delayMs, error: undefined });
        await this.sleep(delayMs);
        attempt = 1;
      }
    }
    for (;;) {
      if (this.isClosed()) return;
      try {
        const refresh = failuresInRow >= (this.opts.refreshEndpointAfterFailures ?? 2);
        const { ws, early } = await this.connectOnce(refresh);
        if (this.isClosed()) {
          this.closeSocket(ws, 1000, 'client closed');
          return;
        }
        this.adopt(ws, early, reason);
        return;
      } catch (e) {
        if (e instanceof KvsUsageError) return this.fatal(new KvsError('ERR_KVS_BAD_ARGUMENT', e.message, { cause: e }));
        const err = e instanceof KvsError ? e : new KvsError('ERR_KVS_CONNECT', errorMessage(e), { cause: e });
        lastError = err;
        if (this.isClosed()) return;
        if (err.code === 'ERR_KVS_AUTH') {
          // A clock the service disagrees with looks like a bad signature: correct once and retry.
          if (err.awsCode === 'SkewCorrected' && !skewRetried) {
            skewRetried = true;
            continue;
          }
          if (err.awsCode === 'ExpiredTokenException' && !tokenRetried) {
            tokenRetried = true;
            try {
              await this.opts.credentials.getCredentials({ forceRefresh: true });
              continue;
            } catch (credErr) {
              const ce = credErr instanceof KvsError ? credErr : new KvsError('ERR_KVS_CREDENTIALS', errorMessage(credErr));
              if (ce.code === 'ERR_KVS_AUTH') return this.fatal(ce);
              lastError = ce; // e.g. the IoT endpoint is unreachable for now: back off and retry
            }
          } else {
            return this.fatal(err);
          }
        }
        // Credentials that cannot be loaded *yet* (IoT endpoint unreachable at boot) are retried
        // like a network failure; refused ones (ERR_KVS_AUTH) ended the loop above.
        if (err.code === 'ERR_KVS_CLIENT_LIMIT' || err.code === 'ERR_KVS_BAD_ARGUMENT') {
          return this.fatal(err);
        }
        failuresInRow++;
        const delayMs = backoffDelay(attempt, this.opts.backoff);
        attempt++;
        this.emit('reconnecting', { attempt, delayMs, error: lastError });
        await this.sleep(delayMs);
      }
    }
  }

  /** One attempt: credentials, presign, WebSocket handshake. */
  private async connectOnce(refreshEndpoint: boolean): Promise<{ ws: WebSocket; early: Array<[RawData, boolean]> }> {
    const endpoint = await this.opts.resolveEndpoint({ refresh: refreshEndpoint }).catch((err: unknown) => {
      throw err instanceof KvsError ? err : new KvsError('ERR_KVS_CONNECT', `resolving the signaling endpoint: ${errorMessage(err)}`, { cause: err });
    });
    const arnOpt = this.opts.channelArn;
    const channelArn = typeof arnOpt === 'string' ? arnOpt : await arnOpt();
    const credentials = await this.opts.credentials.getCredentials();
    const url = await presignSignalingUrl({
      endpoint,
      region: this.opts.region,
      credentials,
      channelArn,
      ...(this.clientId === undefined ? {} : { clientId: this.clientId }),
      signingDate: this.clock.now(),
      expiresInSec: this.opts.presignExpiresSec ?? 299,
    });
    this.opts.trace?.('signaling connecting', { url, role: this.role, clientId: this.clientId });
    return new Promise<{ ws: WebSocket; early: Array<[RawData, boolean]> }>((resolve, reject) => {
      const ws = new WebSocket(url, { handshakeTimeout: this.opts.openTimeoutMs ?? 10_000, ...this.opts.wsOptions });
      const fail = (err: KvsError): void => {
        ws.removeAllListeners();
        ws.on('error', () => undefined);
        ws.terminate();
        reject(err);
      };
      // Frames can arrive right behind the handshake (e.g. offers the service kept for an
      // absent master): hold them until adopt() attaches the real handler.
      const early: Array<[RawData, boolean]> = [];
      ws.on('message', (data: RawData, isBinary: boolean) => early.push([data, isBinary]));
      ws.once('open', () => {
        ws.removeAllListeners('unexpected-response');
        ws.removeAllListeners('error');
        ws.on('error', () => undefined);
        resolve({ ws, early });
      });
      ws.once('unexpected-response', (_req, res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', () => undefined);
        res.on('end', () => fail(this.responseError(res, Buffer.concat(chunks).toString('utf8'))));
      });
      ws.once('error', (err) => fail(new KvsError('ERR_KVS_CONNECT', `signaling ${endpoint}: ${err.message}`, { cause: err })));
    });
  }

  private responseError(res: IncomingMessage, body: string): KvsError {
    const status = res.statusCode ?? 0;
    let awsCode = typeof res.headers['x-amzn-errortype'] === 'string' ? res.headers['x-amzn-errortype'].split(':')[0] : undefined;
    let message = body.slice(0, 300);
    try {
      const parsed = JSON.parse(body) as { message?: unknown; Message?: unknown; __type?: unknown };
      const m = parsed.message ?? parsed.Message;
      if (typeof m === 'string') message = m;
      if (!awsCode && typeof parsed.__type === 'string') awsCode = parsed.__type.split('#').pop();
    } catch {
      /* not JSON: keep the text */
    }
    const skewCorrected = this.clock.updateFromDateHeader(res.headers.date);
    const opts = { statusCode: status, ...(awsCode ? { awsCode } : {}) };
    if (status === 403 || status === 401 || (awsCode !== undefined && AUTH_FAILURE_TYPES.has(awsCode))) {
      if (skewCorrected) {
        return new KvsError('ERR_KVS_AUTH', `signaling refused the signature; clock corrected by ${this.clock.skewMs} ms`, {
          statusCode: status,
          awsCode: 'SkewCorrected',
        });
      }
      return new KvsError('ERR_KVS_AUTH', `signaling refused the credentials (${status} ${awsCode ?? ''}: ${message})`, opts);
    }
    if (awsCode === 'ClientLimitExceededException') {
      return new KvsError('ERR_KVS_CLIENT_LIMIT', `signaling: ${message}`, opts);
    }
    if (awsCode === 'ResourceNotFoundException') {
      return new KvsError('ERR_KVS_CHANNEL_NOT_FOUND', `signaling: ${message}`, opts);
    }
    return new KvsError('ERR_KVS_CONNECT', `signaling answered ${status} ${awsCode ?? ''}: ${message}`, opts);
  }

  /** Makes `ws` the live connection; the previous one (make-before-break) is closed. */
  private adopt(ws: WebSocket, early: Array<[RawData, boolean]>, reason: string): void {
    const previous = this.current;
    const cand: Candidate = { ws, openedAt: Date.now() };
    this.current = cand;
    ws.removeAllListeners('message');
    ws.on('message', (data: RawData, isBinary: boolean) => this.onMessage(data, isBinary));
    ws.on('pong', () => this.clearPongTimer());
    ws.on('error', () => undefined);
    ws.on('close', (code: number, buf: Buffer) => this.onSocketClose(cand, code, buf.toString('utf8')));
    this.stopTimers();
    // Keepalive: a ping every pingIntervalMs; no pong within pongTimeoutMs means the path is
    // dead (a half-open TCP connection never closes by itself), so drop it and reconnect.
    const pongTimeout = this.opts.pongTimeoutMs ?? 10_000;
    this.pingTimer = setInterval(() => {
      if (ws.readyState !== WebSocket.OPEN || this.pongTimer) return;
      ws.ping();
      this.pongTimer = setTimeout(() => {
        this.pongTimer = undefined;
        ws.terminate();
      }, pongTimeout);
      this.pongTimer.unref();
    }, this.opts.pingIntervalMs ?? 20_000);
    this.pingTimer.unref();
    const maxMs = this.opts.maxConnectionMs ?? 3_600_000;
    const margin = Math.min(this.opts.reconnectMarginMs ?? 300_000, maxMs / 2);
    this.lifeTimer = setTimeout(() => this.reconnect('connection age limit'), maxMs - margin);
    this.lifeTimer.unref();
    const wasConnected = this.connectedOnce;
    this.connectedOnce = true;
    this.stateValue = 'open';
    if (previous) this.closeSocket(previous.ws, 1000, 'replaced by a new connection');
    this.emit('open', { reconnect: wasConnected, reason });
    this.settleWaiters();
    for (const [data, isBinary] of early.splice(0)) this.onMessage(data, isBinary);
    // It may have closed between the handshake and now, before our close handler was there.
    if (ws.readyState !== WebSocket.OPEN && this.current === cand) this.onSocketClose(cand, 1006, 'closed during setup');
  }

  private closeSocket(ws: WebSocket, code: number, reason: string): void {
    try {
      if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(code, reason);
    } catch {
      ws.terminate();
    }
    const t = setTimeout(() => ws.terminate(), 2_000);
    t.unref();
  }

  private clearPongTimer(): void {
    if (this.pongTimer) clearTimeout(this.pongTimer);
    this.pongTimer = undefined;
  }

  private stopTimers(): void {
    this.clearPongTimer();
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.lifeTimer) clearTimeout(this.lifeTimer);
    this.pingTimer = undefined;
    this.lifeTimer = undefined;
  }

  private onSocketClose(cand: Candidate, code: number, reason: string): void {
    if (this.current !== cand) return; // an old connection we replaced
    this.current = undefined;
    this.stopTimers();
    if (this.stateValue === 'closed') return;
    this.emit('disconnected', { code, reason });
    if (this.loop) {
      // a replacement is already under way (GO_AWAY, age limit)
      this.stateValue = 'reconnecting';
      return;
    }
    this.stateValue = 'reconnecting';
    this.startLoop(`disconnected (${code}${reason ? ` ${reason}` : ''})`, false);
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    const m = parseSignalingMessage(data, isBinary);
    if (m.seen) this.opts.trace?.('signaling message', { ...m.seen });
    switch (m.kind) {
      case 'goAway':
        this.emit('goAway');
        this.reconnect('GO_AWAY');
        return;
      case 'reconnectIceServer':
        this.emit('reconnectIceServer');
        this.opts.refreshIceServers?.().catch((err: unknown) =>
          this.report(new KvsError('ERR_KVS_CONTROL_PLANE', `refreshing ICE servers: ${errorMessage(err)}`, { cause: err })),
        );
        return;
      case 'statusResponse':
        this.emit('statusResponse', m.status);
        return;
      case 'iceCandidate':
        this.emit('iceCandidate', m.candidate, m.sender);
        return;
      case 'sdpOffer':
        this.emit('sdpOffer', m.description, m.sender);
        return;
      case 'sdpAnswer':
        this.emit('sdpAnswer', m.description, m.sender);
        return;
      case 'bad':
        this.emit('badMessage', m.reason);
        return;
    }
  }
}
