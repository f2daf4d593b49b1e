import { once, type EventEmitter } from 'node:events';
import { WebSocket as WsWebSocket } from 'ws';
import { ControlPlane, StaticCredentialsProvider, createChannelSignaling, type SignalingClient } from '../../ts/kvs/index.js';
import type { LocalKvsService } from '../../ts/local/index.js';

/** Waits for one event, at most `ms` (default 15 s), and returns its arguments. */
export async function next<T extends unknown[] = unknown[]>(em: EventEmitter | NodeJS.EventEmitter, event: string, ms = 15_000): Promise<T> {
  return (await once(em as NodeJS.EventEmitter, event, { signal: AbortSignal.timeout(ms) })) as T;
}

/** Polls `cond` every 20 ms (after `refresh`, when given) for at most `ms`. */
export async function waitFor(cond: () => boolean, ms = 15_000, refresh?: () => Promise<void>): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (refresh) await refresh();
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, refresh ? 200 : 20));
  }
  if (refresh) await refresh();
  return cond();
}

/**
 * The KVS JavaScript SDK picks `WebSocket` from the global scope (Node 20 has none) and
 * passes only the URL; this gives it `ws` trusting the local service's CA.
 */
export function installWsGlobal(ca: string | undefined): () => void {
  const g = globalThis as { WebSocket?: unknown };
  const before = g.WebSocket;
  class CaWebSocket extends WsWebSocket {
    constructor(url: string, protocols?: string | string[]) {
      super(url, protocols ?? [], ca === undefined ? {} : { ca });
    }
  }
  g.WebSocket = CaWebSocket;
  return () => {
    g.WebSocket = before;
  };
}

export interface OurClient {
  cp: ControlPlane;
  client: SignalingClient;
}

export async function ourClient(
  svc: LocalKvsService,
  channelName: string,
  role: 'MASTER' | 'VIEWER',
  clientId?: string,
  extra: Partial<Parameters<typeof createChannelSignaling>[0]> = {},
): Promise<OurClient> {
  const credentials = new StaticCredentialsProvider(svc.credentials);
  const cp = new ControlPlane({
    region: svc.region,
    channelName,
    credentials,
    endpoint: svc.endpoint,
    ...(svc.caCert ? { ca: svc.caCert } : {}),
    maxAttempts: 1,
  });
  const client = await createChannelSignaling({
    controlPlane: cp,
    credentials,
    role,
    ...(clientId === undefined ? {} : { clientId }),
    ...(svc.caCert ? { wsOptions: { ca: svc.caCert } } : {}),
    backoff: { initialMs: 50, maxMs: 400 },
    ...extra,
  });
  return { cp, client };
}

export interface RawResult {
  ws?: WsWebSocket;
  /** Every JSON frame received, collected from the first one on. */
  frames: Array<Record<string, unknown>>;
  status?: number;
  errorType?: string;
  body?: string;
  protocol?: string;
}

/** A bare `ws` connection with a URL presigned by presignSignalingUrl (for crafting frames). */
export async function rawConnect(
  svc: LocalKvsService,
  o: {
    channel: string;
    clientId?: string;
    expiresInSec?: number;
    credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
    signingDate?: Date;
    protocols?: string[];
    mutateUrl?: (url: string) => string;
  },
): Promise<RawResult> {
  const { presignSignalingUrl } = await import('../../ts/kvs/presign.js');
  let url = await presignSignalingUrl({
    endpoint: svc.wssEndpoint,
    region: svc.region,
    credentials: o.credentials ?? svc.credentials,
    channelArn: svc.channelArn(o.channel),
    ...(o.clientId === undefined ? {} : { clientId: o.clientId }),
    signingDate: o.signingDate ?? new Date(),
    ...(o.expiresInSec === undefined ? {} : { expiresInSec: o.expiresInSec }),
  });
  if (o.mutateUrl) url = o.mutateUrl(url);
  return new Promise<RawResult>((resolve) => {
    const ws = new WsWebSocket(url, o.protocols ?? [], svc.caCert ? { ca: svc.caCert } : {});
    const frames = collect(ws);
    ws.once('open', () => resolve({ ws, frames, protocol: ws.protocol }));
    ws.once('unexpected-response', (_req, res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const h = res.headers['x-amzn-errortype'];
        resolve({
          frames,
          status: res.statusCode ?? 0,
          ...(typeof h === 'string' ? { errorType: h } : {}),
          body: Buffer.concat(chunks).toString('utf8'),
        });
        ws.terminate();
      });
    });
    ws.once('error', (err) => resolve({ frames, status: -1, body: err.message }));
  });
}

/** Collects every JSON frame a raw socket receives. */
export function collect(ws: WsWebSocket): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  ws.on('message', (d: Buffer) => {
    try {
      out.push(JSON.parse(d.toString('utf8')) as Record<string, unknown>);
    } catch {
      out.push({ unparsable: d.toString('utf8') });
    }
  });
  return out;
}

export const b64 = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64');

/**
 * A TCP proxy on loopback that can "lose the network": freeze() stops forwarding bytes on every
 * open connection without closing anything (what a dropped Wi-Fi link looks like to both ends).
 * New connections after thaw() are forwarded again.
 */
export class FreezableProxy {
  private server: import('node:net').Server | undefined;
  private frozen = false;
  private readonly sockets = new Set<import('node:net').Socket>();
  port = 0;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<void> {
    const net = await import('node:net');
    this.server = net.createServer((client) => {
      if (this.frozen) {
        client.destroy();
        return;
      }
      const upstream = net.connect(this.targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.on('data', (d) => {
        if (!this.frozen) upstream.write(d);
      });
      upstream.on('data', (d) => {
        if (!this.frozen) client.write(d);
      });
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', () => r()));
    const addr = this.server?.address();
    this.port = typeof addr === 'object' && addr ? addr.port : 0;
  }

  freeze(): void {
    this.frozen = true;
  }

  thaw(): void {
    this.frozen = false;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
