// The browser viewer's HTTP server: serves the page (ts/web/public), the KVS WebRTC SDK's browser
// bundle from node_modules (nothing from a CDN), and GET /config.json, which hands the page what
// a KVS viewer needs: channel ARN, signaling endpoint, region, credentials and ICE servers.
// Every response carries a Content-Security-Policy that lets the page load nothing but this
// server and talk to nothing but the signaling endpoint.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { ControlPlane, CredentialsProvider } from '../kvs/index.js';

/** What the page needs to connect as a KVS viewer (the answer of GET /config.json). */
export interface ViewerConfig {
  channelName: string;
  channelArn: string;
  /** The signaling WebSocket endpoint (GetSignalingChannelEndpoint, protocol WSS). */
  channelEndpoint: string;
  region: string;
  clientId: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  iceServers: { urls: string | string[]; username?: string; credential?: string }[];
}

export interface WebServerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** When `port` is taken, take a free one instead of failing. */
  fallbackToFreePort?: boolean;
  /** The signaling endpoint's origin (ws://host:port or wss://host:port), for the page's CSP. */
  signalingOrigin: string;
  /** Builds the page's configuration for a new viewer. */
  viewerConfig(clientId: string): Promise<ViewerConfig>;
}

/**
 * The page's configuration from the channel's control plane, as a KVS viewer app gets it: the
 * channel ARN and signaling endpoint for the VIEWER role, ICE servers for this client, and the
 * credentials the page signs with (the page runs on loopback, for the person running it).
 */
export function controlPlaneViewerConfig(cp: ControlPlane, channelName: string, credentials: CredentialsProvider): (clientId: string) => Promise<ViewerConfig> {
  return async (clientId) => {
    const ep = await cp.getEndpoints('VIEWER');
    const c = await credentials.getCredentials();
    return {
      channelName,
      channelArn: ep.channelArn,
      channelEndpoint: ep.wss,
      region: cp.region,
      clientId,
      credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, ...(c.sessionToken ? { sessionToken: c.sessionToken } : {}) },
      iceServers: await cp.getIceServers('VIEWER', clientId),
    };
  };
}

export interface WebServer {
  readonly url: string;
  close(): Promise<void>;
}

const PUBLIC = new URL('../../ts/web/public/', import.meta.url);
const SDK_BUNDLE = createRequire(import.meta.url).resolve('amazon-kinesis-video-streams-webrtc/dist/kvs-webrtc.min.js');
const CLIENT_ID_RE = /^[a-zA-Z0-9_.-]{1,256}$/;

interface Asset {
  type: string;
  body: Buffer;
}

function loadAssets(): Map<string, Asset> {
  const file = (name: string): Buffer => readFileSync(new URL(name, PUBLIC));
  const html = { type: 'text/html; charset=utf-8', body: file('index.html') };
  return new Map<string, Asset>([
    ['/', html],
    ['/index.html', html],
    ['/viewer.js', { type: 'text/javascript; charset=utf-8', body: file('viewer.js') }],
    ['/viewer.css', { type: 'text/css; charset=utf-8', body: file('viewer.css') }],
    ['/kvs-webrtc.min.js', { type: 'text/javascript; charset=utf-8', body: readFileSync(SDK_BUNDLE) }],
  ]);
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, csp: string): void {
  res.writeHead(status, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'content-security-policy': csp,
    'x-content-type-options': 'nosniff',
  });
  res.end(body);
}

/** Listens on `port`, or on a free port when it is taken and `fallback` is set. */
export async function listenWithFallback(server: { listen(port: number, host: string, cb: () => void): unknown; once(ev: 'error', cb: (e: Error) => void): unknown; off(ev: 'error', cb: (e: Error) => void): unknown }, port: number, host: string, fallback: boolean): Promise<void> {
  const attempt = (p: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const onError = (e: Error): void => reject(e);
      server.once('error', onError);
      server.listen(p, host, () => {
        server.off('error', onError);
        resolve();
      });
    });
  try {
    await attempt(port);
  } catch (e) {
    if (!fallback || port === 0 || (e as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw e;
    await attempt(0);
  }
}

export async function startWebServer(options: WebServerOptions): Promise<WebServer> {
  const assets = loadAssets();
  const csp = [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "media-src 'self' blob:",
    `connect-src 'self' ${options.signalingOrigin}`,
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  const json = (res: ServerResponse, status: number, body: unknown): void => send(res, status, 'application/json', JSON.stringify(body), csp);

  async function config(res: ServerResponse, query: URLSearchParams): Promise<void> {
    const asked = query.get('clientId');
    if (asked !== null && !CLIENT_ID_RE.test(asked)) {
      json(res, 400, { error: 'clientId must be 1-256 characters of letters, digits, "_", "." or "-"' });
      return;
    }
    const clientId = asked ?? `web-${randomBytes(4).toString('hex')}`;
    try {
      json(res, 200, await options.viewerConfig(clientId));
    } catch (e) {
      json(res, 503, { error: `the viewer configuration is not available: ${(e as Error).message}` });
    }
  }

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://local');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      json(res, 405, { error: `${req.method ?? ''} is not allowed; this server only serves GET` });
      return;
    }
    if (url.pathname === '/config.json') {
      config(res, url.searchParams).catch((e: unknown) => json(res, 500, { error: String(e) }));
      return;
    }
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    const asset = assets.get(url.pathname);
    if (asset) send(res, 200, asset.type, asset.body, csp);
    else json(res, 404, { error: `no such page: ${url.pathname}` });
  });
  server.on('clientError', (_e, socket) => socket.destroy());
  await listenWithFallback(server, options.port ?? 0, options.host ?? '127.0.0.1', options.fallbackToFreePort ?? false);
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
