import { EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { listen } from './listen.js';
import type { Pem } from './pki.js';

/**
 * The AWS IoT credentials provider endpoint, for tests and HIL rigs: mutual TLS (the device
 * certificate must chain to `clientCa`), `GET /role-aliases/{alias}/credentials` with header
 * `x-amzn-iot-thingname`, which must equal the certificate's CN (standing in for "the thing is
 * attached to the certificate"). Credentials come from `issue`, so the KVS service accepts them.
 */
export interface IssuedCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

export interface IotCredentialsServerEvents {
  issued: [thingName: string, creds: IssuedCredentials];
  denied: [status: number, reason: string];
}

export interface IotCredentialsServerOptions {
  host?: string;
  port?: number;
  server: Pem;
  clientCa: string;
  roleAliases: string[];
  issue: () => IssuedCredentials;
  now: () => number;
}

export class IotCredentialsServer extends EventEmitter<IotCredentialsServerEvents> {
  private server: Server | undefined;
  private boundPort = 0;
  readonly host: string;

  constructor(private readonly opts: IotCredentialsServerOptions) {
    super();
    this.host = opts.host ?? '127.0.0.1';
  }

  /** `https://host:port`, what IotCredentialsProvider takes as endpoint. */
  get endpoint(): string {
    return `https://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.boundPort}`;
  }

  async start(): Promise<void> {
    const server = createServer(
      { cert: this.opts.server.cert, key: this.opts.server.key, ca: this.opts.clientCa, requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        const send = (status: number, body: object): void => {
          if (status !== 200) this.emit('denied', status, JSON.stringify(body));
          const text = JSON.stringify(body);
          res.writeHead(status, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(text),
            date: new Date(this.opts.now()).toUTCString(),
          });
          res.end(text);
        };
        req.resume();
        const m = /^\/role-aliases\/([^/?]+)\/credentials(?:\?.*)?$/.exec(req.url ?? '');
        if (req.method !== 'GET' || !m?.[1]) return send(404, { message: 'Not found' });
        const alias = decodeURIComponent(m[1]);
        if (!this.opts.roleAliases.includes(alias)) return send(404, { message: `Role alias ${alias} does not exist` });
        const thing = req.headers['x-amzn-iot-thingname'];
        if (typeof thing !== 'string' || !thing) return send(400, { message: 'x-amzn-iot-thingname header is required' });
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        const cn = peer.subject?.CN;
        if (cn !== thing) return send(403, { message: `Thing ${thing} is not attached to this certificate` });
        const creds = this.opts.issue();
        this.emit('issued', thing, creds);
        return send(200, {
          credentials: {
            accessKeyId: creds.accessKeyId,
            secretAccessKey: creds.secretAccessKey,
            sessionToken: creds.sessionToken,
            expiration: creds.expiration.toISOString(),
          },
        });
      },
    );
    server.on('tlsClientError', () => {
      /* a device with a bad certificate: the handshake fails, nothing to do here */
    });
    const port = await listen(server, this.opts.port ?? 0, this.host);
    this.server = server;
    this.boundPort = port;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
