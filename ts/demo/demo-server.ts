// The demo peer: a test-pattern track and an HTTP server on loopback that serves the viewer
// page and answers its offers (POST /offer) with the native engine. One engine peer per viewer.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { NativeError, PeerConnection, VideoTrack, type VideoTrackOptions } from '../native/index.js';
import { VIEWER_PAGE } from './viewer-page.js';

export interface DemoServerOptions {
  host?: string;
  port?: number;
  video?: VideoTrackOptions;
  /** Most viewers at once; more are refused with 503. */
  maxViewers?: number;
  log?: (line: string) => void;
}

export interface DemoServer {
  readonly url: string;
  readonly viewers: number;
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error(`request body larger than ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export async function startDemoServer(options: DemoServerOptions = {}): Promise<DemoServer> {
  const log = options.log ?? (() => undefined);
  const maxViewers = options.maxViewers ?? 10;
  const track = new VideoTrack({ width: 1280, height: 720, fps: 30, bitrateKbps: 2000, ...options.video });
  const peers = new Set<PeerConnection>();

  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let sdp: unknown;
    try {
      sdp = (JSON.parse(await readBody(req)) as { sdp?: unknown }).sdp;
    } catch (e) {
      json(res, 400, { error: `body must be JSON {"sdp": "..."}: ${(e as Error).message}` });
      return;
    }
    if (typeof sdp !== 'string') {
      json(res, 400, { error: 'body must be JSON {"sdp": "<offer SDP>"}' });
      return;
    }
    if (peers.size >= maxViewers) {
      json(res, 503, { error: `at most ${maxViewers} viewers` });
      return;
    }
    const pc = new PeerConnection({ waitForGathering: true });
    pc.addTrack(track);
    peers.add(pc);
    pc.on('state', (s) => {
      log(`viewer ${pc.id}: ${s}`);
      if (s === 'failed' || s === 'disconnected' || s === 'closed') {
        peers.delete(pc);
        pc.close();
      }
    });
    try {
      json(res, 200, { sdp: await pc.setRemoteOffer(sdp) });
    } catch (e) {
      peers.delete(pc);
      pc.close();
      const code = e instanceof NativeError ? e.code : 'ERR_INTERNAL';
      json(res, 400, { error: (e as Error).message, code });
    }
  }

  const server: Server = createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/' || req.url === '/index.html')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(VIEWER_PAGE);
    } else if (req.method === 'POST' && req.url === '/offer') {
      answer(req, res).catch((e: unknown) => json(res, 500, { error: String(e) }));
    } else {
      json(res, 404, { error: `no route for ${req.method} ${req.url}` });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/`,
    get viewers() {
      return peers.size;
    },
    async close() {
      for (const pc of peers) pc.close();
      peers.clear();
      track.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
