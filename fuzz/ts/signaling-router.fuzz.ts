// Fuzz target: the local KVS service's signaling router (ts/local/SignalingRouter.ts), which
// takes frames from masters and viewers it does not trust. Peers are WebSocket doubles that
// record what they are sent and close the way `ws` does (the close event comes later).
// Input: a series of operations (attach a master or viewer on one of two channels, a frame
// from a peer (raw text, a structured message with a base64 payload, or binary), close a peer,
// advance the clock, flush pending close events), each an opcode byte and its fields.
// Property: never throws; every frame sent is a JSON object; a viewer's message reaches only
// its channel's master, stamped with the viewer's own client id; a master's reaches only the
// named viewer of its channel; a STATUS_RESPONSE carries a valid correlationId that its peer
// sent, and a reason; nothing is sent to a closed socket; once every peer has closed the router
// holds none.
import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { SignalingRouter, type Peer, type Role } from '../../ts/local/SignalingRouter.js';
import { check, Reader } from './harness.js';

const CHANNELS = ['arn:aws:kinesisvideo:us-west-2:111122223333:channel/front/1', 'arn:aws:kinesisvideo:us-west-2:111122223333:channel/back/2'];
const CLIENT_IDS = ['viewer-1', 'viewer-2', 'viewer-3', 'a'.repeat(256)];
const ACTIONS = ['SDP_OFFER', 'SDP_ANSWER', 'ICE_CANDIDATE', 'GO_AWAY', 'sdp_offer'];
const CORRELATION = [undefined, null, 'c-1', 'bad id', '', 7];

class WsDouble extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  readonly sent: string[] = [];
  constructor(
    private readonly closes: Array<() => void>,
    readonly label: string,
  ) {
    super();
  }
  send(text: string): void {
    check(this.readyState === this.OPEN, `${this.label}: sent a frame after close`);
    this.sent.push(text);
  }
  close(code = 1000, reason = ''): void {
    if (this.readyState !== this.OPEN) return;
    this.readyState = 2;
    this.closes.push(() => {
      this.readyState = 3;
      this.emit('close', code, Buffer.from(reason));
    });
  }
  terminate(): void {
    this.close(1006, '');
  }
}

interface Sent {
  peer: Peer;
  ws: WsDouble;
  /** The valid correlationIds this peer sent: the only ones a STATUS_RESPONSE to it may carry. */
  correlations: Set<string>;
}

function correlationOf(frame: Buffer): string {
  const o = JSON.parse(frame.toString('utf8')) as Record<string, unknown>;
  return ('correlationId' in o ? o['correlationId'] : o['CorrelationId']) as string;
}

export function fuzz(data: Buffer): void {
  const r = new Reader(data);
  let now = 1_000_000;
  const closes: Array<() => void> = [];
  const flush = (): void => {
    for (const f of closes.splice(0)) f();
  };
  const router = new SignalingRouter(
    { maxViewers: 2, maxPayloadBytes: 4096, idleTimeoutMs: 600_000, maxConnectionMs: 3_600_000 },
    (arn) => (arn === CHANNELS[0] ? 60_000 : 0),
    () => now,
  );
  const peers: Sent[] = [];
  router.on('routed', (from, to, type) => {
    check(from.channelArn === to.channelArn, 'routed across channels');
    check(from.role !== to.role, `routed ${from.role} to ${to.role}`);
    check(['SDP_OFFER', 'SDP_ANSWER', 'ICE_CANDIDATE'].includes(type), `routed action ${type}`);
  });
  const attach = (role: Role, channelArn: string, clientId: string | undefined): void => {
    const ws = new WsDouble(closes, `${role} ${clientId ?? ''}`);
    const peer: Peer = { ws: ws as unknown as WebSocket, role, clientId, channelArn };
    if (role === 'VIEWER' && !router.canAdmitViewer(channelArn, clientId as string)) return;
    router.attach(peer);
    peers.push({ peer, ws, correlations: new Set() });
  };
  const open = (): Sent[] => peers.filter((p) => p.ws.readyState === 1);
  for (let op = 0; op < 64 && r.remaining > 0; op++) {
    const code = r.byte() % 8;
    if (code === 0) attach('MASTER', r.pick(CHANNELS), undefined);
    else if (code === 1) attach('VIEWER', r.pick(CHANNELS), r.bool() ? r.pick(CLIENT_IDS) : r.string());
    else if (code === 2 || code === 3 || code === 4) {
      const live = open();
      if (live.length === 0) continue;
      const from = r.pick(live);
      let frame: Buffer;
      let correlationOk = false;
      if (code === 2) {
        frame = r.bytes16();
        try {
          const o = JSON.parse(frame.toString('utf8')) as Record<string, unknown>;
          const v = 'correlationId' in o ? o['correlationId'] : o['CorrelationId'];
          correlationOk = typeof v === 'string' && /^[a-zA-Z0-9_.-]{1,256}$/.test(v);
        } catch {
          /* not JSON (or not an object): no correlationId */
        }
      } else {
        const msg: Record<string, unknown> = {};
        const pascal = r.bool();
        const key = (k: string): string => (pascal ? k.charAt(0).toUpperCase() + k.slice(1) : k);
        msg[key('action')] = r.bool() ? r.pick(ACTIONS) : r.string();
        const to = r.byte() % 4;
        if (to === 1) msg[key('recipientClientId')] = r.pick(CLIENT_IDS);
        else if (to === 2) msg[key('recipientClientId')] = r.string();
        const corr = r.pick(CORRELATION);
        if (corr !== undefined) msg[key('correlationId')] = corr;
        correlationOk = typeof corr === 'string' && /^[a-zA-Z0-9_.-]{1,256}$/.test(corr);
        msg[key('messagePayload')] = r.bool() ? r.bytes16().toString('base64') : r.string();
        frame = Buffer.from(JSON.stringify(msg));
      }
      if (correlationOk) from.correlations.add(correlationOf(frame));
      from.ws.emit('message', frame, code === 4);
    } else if (code === 5) {
      const live = open();
      if (live.length) r.pick(live).ws.close(1000, 'bye');
    } else if (code === 6) now += r.byte() * 1000;
    else flush();
  }
  // What each peer was sent must be JSON objects; a viewer hears only its master and the
  // master hears viewers of its own channel, each stamped with a client id that was connected.
  for (const { peer, ws, correlations } of peers) {
    for (const text of ws.sent) {
      const m = JSON.parse(text) as Record<string, unknown>;
      check(typeof m === 'object' && m !== null && typeof m['messageType'] === 'string', 'frames are JSON objects with a messageType');
      if (m['messageType'] === 'STATUS_RESPONSE') {
        const sr = m['statusResponse'] as Record<string, unknown> | undefined;
        check(typeof sr?.['correlationId'] === 'string' && correlations.has(sr['correlationId']), 'a STATUS_RESPONSE answers a correlationId its peer sent');
        check(typeof sr['description'] === 'string' && sr['description'].length > 0, 'a STATUS_RESPONSE says why');
        continue;
      }
      const sender = m['senderClientId'];
      if (peer.role === 'VIEWER') check(sender === '', 'a viewer hears only the master');
      else {
        check(
          peers.some((p) => p.peer.role === 'VIEWER' && p.peer.channelArn === peer.channelArn && p.peer.clientId === sender),
          `the master of ${peer.channelArn} heard ${JSON.stringify(sender)}, not a viewer of its channel`,
        );
      }
    }
  }
  for (const { ws } of peers) ws.close(1000, 'end');
  flush();
  check(router.allPeers().length === 0, 'every peer closed, the router holds none');
  for (const arn of CHANNELS) {
    const p = router.peers(arn);
    check(!p.master && p.viewers.length === 0, 'no peer left in a channel');
  }
}
