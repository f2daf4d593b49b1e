import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';

/**
 * Routes signaling messages between one channel's master and its viewers with the rules of
 * KVS: one master (a new one replaces the old), at most `maxViewers` viewers, viewers reach
 * only the master (a viewer's recipientClientId is ignored, as AWS documents: the official C
 * SDK's viewer always sends "ProducerMaster"), payloads at most `maxPayloadBytes`,
 * STATUS_RESPONSE (the documented shape: correlationId, errorType, statusCode, description)
 * only for messages that carried a correlationId, messages for an absent master kept for the
 * channel's message TTL. Every message that is not delivered is reported through
 * `protocolError` with its reason; bad input never ends anyone's connection.
 */
export type Role = 'MASTER' | 'VIEWER';

export interface Peer {
  ws: WebSocket;
  role: Role;
  /** The viewer's X-Amz-ClientId; undefined for the master. */
  clientId: string | undefined;
  channelArn: string;
}

export interface RouterLimits {
  maxViewers: number;
  maxPayloadBytes: number;
  idleTimeoutMs: number;
  maxConnectionMs: number;
}

export interface SignalingRouterEvents {
  connect: [peer: Peer];
  disconnect: [peer: Peer, code: number, reason: string];
  /** A message was delivered from `from` to `to`. */
  routed: [from: Peer, to: Peer, messageType: string];
  /**
   * A message that was refused or dropped (its reason in `description`); `statusSent` tells
   * whether the sender got a STATUS_RESPONSE (only messages with a correlationId do).
   */
  protocolError: [peer: Peer, errorType: string, description: string, statusSent: boolean];
}

interface ChannelState {
  master: Peer | undefined;
  viewers: Map<string, Peer>;
  /** Viewer messages waiting for a master (KVS keeps them for MessageTtlSeconds). */
  pending: Array<{ from: Peer; action: string; correlationId: string | undefined; text: string; expiresAt: number }>;
}

interface PeerTimers {
  idle: NodeJS.Timeout | undefined;
  life: NodeJS.Timeout | undefined;
}

const ACTIONS = new Set(['SDP_OFFER', 'SDP_ANSWER', 'ICE_CANDIDATE']);
const MAX_PENDING = 100;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function field(obj: Record<string, unknown>, camel: string): unknown {
  if (camel in obj) return obj[camel];
  const pascal = camel.charAt(0).toUpperCase() + camel.slice(1);
  return obj[pascal];
}

export class SignalingRouter extends EventEmitter<SignalingRouterEvents> {
  private readonly channels = new Map<string, ChannelState>();
  private readonly timers = new Map<Peer, PeerTimers>();

  constructor(
    private readonly limits: RouterLimits,
    private readonly messageTtlMs: (channelArn: string) => number,
    private readonly now: () => number,
  ) {
    super();
  }

  private channel(arn: string): ChannelState {
    let c = this.channels.get(arn);
    if (!c) {
      c = { master: undefined, viewers: new Map(), pending: [] };
      this.channels.set(arn, c);
    }
    return c;
  }

  /** Whether one more viewer `clientId` may join (a reconnecting viewer replaces itself). */
  canAdmitViewer(channelArn: string, clientId: string): boolean {
    const c = this.channels.get(channelArn);
    if (!c || c.viewers.has(clientId)) return true;
    return c.viewers.size < this.limits.maxViewers;
  }

  peers(channelArn: string): { master: boolean; viewers: string[] } {
    const c = this.channels.get(channelArn);
    return { master: c?.master !== undefined, viewers: c ? [...c.viewers.keys()] : [] };
  }

  allPeers(): Peer[] {
    const out: Peer[] = [];
    for (const c of this.channels.values()) {
      if (c.master) out.push(c.master);
      out.push(...c.viewers.values());
    }
    return out;
  }

  attach(peer: Peer): void {
    const c = this.channel(peer.channelArn);
    if (peer.role === 'MASTER') {
      const old = c.master;
      c.master = peer;
      if (old) old.ws.close(1000, 'replaced by a new master connection');
    } else {
      const id = peer.clientId ?? '';
      const old = c.viewers.get(id);
      c.viewers.set(id, peer);
      if (old) old.ws.close(1000, 'replaced by a new connection with the same client id');
    }
    const timers: PeerTimers = { idle: undefined, life: undefined };
    this.timers.set(peer, timers);
    this.touch(peer);
    timers.life = setTimeout(() => peer.ws.close(1000, 'connection duration limit reached'), this.limits.maxConnectionMs);
    timers.life.unref();
    peer.ws.on('message', (data, isBinary) => {
      this.touch(peer);
      this.onMessage(peer, data, isBinary);
    });
    peer.ws.on('ping', () => this.touch(peer));
    peer.ws.on('error', () => {
      /* the close event follows; a socket error must not reach the process */
    });
    peer.ws.on('close', (code, reason) => this.detach(peer, code, reason.toString('utf8')));
    this.emit('connect', peer);
    if (peer.role === 'MASTER') this.flushPending(c);
  }

  private touch(peer: Peer): void {
    const t = this.timers.get(peer);
    if (!t) return;
    if (t.idle) clearTimeout(t.idle);
    t.idle = setTimeout(() => peer.ws.close(1000, 'idle timeout'), this.limits.idleTimeoutMs);
    t.idle.unref();
  }

  private detach(peer: Peer, code: number, reason: string): void {
    const t = this.timers.get(peer);
    if (t) {
      if (t.idle) clearTimeout(t.idle);
      if (t.life) clearTimeout(t.life);
      this.timers.delete(peer);
    }
    const c = this.channels.get(peer.channelArn);
    if (c) {
      if (c.master === peer) c.master = undefined;
      if (peer.clientId !== undefined && c.viewers.get(peer.clientId) === peer) c.viewers.delete(peer.clientId);
      if (!c.master && c.viewers.size === 0 && c.pending.length === 0) this.channels.delete(peer.channelArn);
    }
    this.emit('disconnect', peer, code, reason);
  }

  /** Sends a server message (GO_AWAY, RECONNECT_ICE_SERVER) to every peer of the channel, or of all channels. */
  broadcast(messageType: 'GO_AWAY' | 'RECONNECT_ICE_SERVER', channelArn?: string): number {
    let n = 0;
    for (const p of this.allPeers()) {
      if (channelArn !== undefined && p.channelArn !== channelArn) continue;
      this.send(p, { senderClientId: '', messageType, messagePayload: '' });
      n++;
    }
    return n;
  }

  private send(peer: Peer, msg: object): void {
    if (peer.ws.readyState === peer.ws.OPEN) peer.ws.send(JSON.stringify(msg));
  }

  private fail(peer: Peer, correlationId: string | undefined, errorType: string, description: string): void {
    const statusSent = correlationId !== undefined;
    if (statusSent) {
      this.send(peer, {
        senderClientId: '',
        messageType: 'STATUS_RESPONSE',
        messagePayload: '',
        statusResponse: { correlationId, errorType, statusCode: '400', description },
      });
    }
    this.emit('protocolError', peer, errorType, description, statusSent);
  }

  private onMessage(peer: Peer, data: unknown, isBinary: boolean): void {
    if (isBinary) return this.fail(peer, undefined, 'InvalidArgumentException', 'binary frames are not signaling messages');
    const text = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data as Buffer[]).toString('utf8') : '';
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return this.fail(peer, undefined, 'InvalidArgumentException', 'frame is not JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      return this.fail(peer, undefined, 'InvalidArgumentException', 'frame is not a JSON object');
    }
    const msg = parsed as Record<string, unknown>;
    const rawCorrelation = field(msg, 'correlationId');
    const correlationId =
      typeof rawCorrelation === 'string' && /^[a-zA-Z0-9_.-]{1,256}$/.test(rawCorrelation) ? rawCorrelation : undefined;
    if (rawCorrelation !== undefined && rawCorrelation !== null && correlationId === undefined) {
      return this.fail(peer, undefined, 'InvalidArgumentException', 'correlationId must match [a-zA-Z0-9_.-]{1,256}');
    }
    const action = field(msg, 'action');
    if (typeof action !== 'string' || !ACTIONS.has(action)) {
      return this.fail(peer, correlationId, 'InvalidArgumentException', `unknown action ${JSON.stringify(action ?? null)}`);
    }
    const payload = field(msg, 'messagePayload');
    if (typeof payload !== 'string' || payload.length === 0 || !BASE64.test(payload)) {
      return this.fail(peer, correlationId, 'InvalidArgumentException', 'messagePayload must be a non-empty base64 string');
    }
    if (payload.length > this.limits.maxPayloadBytes) {
      return this.fail(
        peer,
        correlationId,
        'InvalidArgumentException',
        `messagePayload is ${payload.length} bytes, more than the limit of ${this.limits.maxPayloadBytes}`,
      );
    }
    const recipientRaw = field(msg, 'recipientClientId');
    const recipient = typeof recipientRaw === 'string' && recipientRaw !== '' ? recipientRaw : undefined;
    const c = this.channel(peer.channelArn);
    if (peer.role === 'MASTER') {
      if (recipient === undefined) {
        return this.fail(peer, correlationId, 'InvalidArgumentException', 'the master must name a recipientClientId');
      }
      const to = c.viewers.get(recipient);
      if (!to || to.ws.readyState !== to.ws.OPEN) {
        return this.fail(peer, correlationId, 'InvalidArgumentException', `${action} dropped: recipient ${recipient} is not connected`);
      }
      this.send(to, { senderClientId: '', messageType: action, messagePayload: payload });
      this.emit('routed', peer, to, action);
      return;
    }
    // A viewer reaches only the master: whatever recipientClientId it names is ignored.
    const out = JSON.stringify({ senderClientId: peer.clientId, messageType: action, messagePayload: payload });
    if (c.master && c.master.ws.readyState === c.master.ws.OPEN) {
      c.master.ws.send(out);
      this.emit('routed', peer, c.master, action);
      return;
    }
    const ttl = this.messageTtlMs(peer.channelArn);
    if (ttl <= 0) return this.fail(peer, correlationId, 'InvalidArgumentException', `${action} dropped: the master is not connected`);
    if (c.pending.length >= MAX_PENDING) {
      const old = c.pending.shift();
      if (old) this.fail(old.from, old.correlationId, 'InvalidArgumentException', `${old.action} dropped: more than ${MAX_PENDING} messages wait for the master`);
    }
    c.pending.push({ from: peer, action, correlationId, text: out, expiresAt: this.now() + ttl });
  }

  private flushPending(c: ChannelState): void {
    const now = this.now();
    const list = c.pending.splice(0);
    const master = c.master;
    if (!master) return;
    for (const p of list) {
      if (p.from.ws.readyState !== p.from.ws.OPEN) {
        this.fail(p.from, undefined, 'InvalidArgumentException', `${p.action} dropped: its sender left before the master connected`);
      } else if (p.expiresAt < now) {
        this.fail(p.from, p.correlationId, 'InvalidArgumentException', `${p.action} dropped: it waited longer than the channel's message TTL`);
      } else {
        master.ws.send(p.text);
        this.emit('routed', p.from, master, p.action);
      }
    }
  }

  /** Drops every connection at once (no GO_AWAY), as a crashed service would. */
  terminateAll(): void {
    for (const p of this.allPeers()) p.ws.terminate();
  }

  closeAll(code: number, reason: string): void {
    for (const p of this.allPeers()) p.ws.close(code, reason);
  }
}
