import { once, type EventEmitter } from 'node:events';
import { WebSocket as WsWebSocket } from 'ws';
import { ControlPlane, StaticCredentialsProvider, createChannelSignaling, type SignalingClient } from '../../ts/kvs/index.js';
import type { LocalKvsService } from '../../ts/local/index.js';

/** Waits for one event, at most `ms` (default 15 s), and returns its arguments. */
export async function next<T extends unknown[] = unknown[]>(em: EventEmitter | NodeJS.EventEmitter, event: string, ms = 15_000): Promise<T> {
  return (await once(em as NodeJS.EventEmitter, event, { signal: AbortSignal.timeout(ms) })) as T;
}

/** Polls `cond` every 20 ms for at most `ms`. */
export async function waitFor(cond: () => boolean, ms = 15_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
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
