import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { ControlPlaneApi, HttpError, type AwsErrorArgs, type ChannelInfo, type IceServerEntry } from './ControlPlaneApi.js';
import { EventEmitter } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { isIP, type Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { KvsError } from '../kvs/KvsError.js';
import { CoturnServer } from './CoturnServer.js';
import { IotCredentialsServer, type IssuedCredentials } from './IotCredentialsServer.js';
import { listen } from './listen.js';
import { createTestPki, type Pem, type TestPki } from './pki.js';
import { SigV4Verifier, type KnownKey, type VerifyResult } from './SigV4Verifier.js';
import { SignalingRouter, type Peer, type Role, type RouterLimits } from './SignalingRouter.js';
import { StunServer } from './StunServer.js';

/**
 * A KVS-compatible service on loopback: control plane, GetIceServerConfig, the signaling
 * WebSocket (SigV4 verified, routed with KVS's rules), a STUN responder, TURN through coturn
 * when installed, and optionally an IoT credentials endpoint. Unmodified AWS clients work
 * against it when given `endpoint`.
 */
export interface LocalServiceOptions {
  host?: string;
  /** 0 (default) picks a free port; give the old port to restart "the same" service. */
  port?: number;
  region?: string;
  accountId?: string;
  /** Long-term keys the service accepts (generated when absent). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Serve HTTPS/WSS: true generates a certificate from `pki` (or a new one). */
  tls?: boolean | Pem;
  /**
   * Serve as AWS does, for clients that know only AWS's names (the official C SDK, AWS SDK
   * clients without an endpoint): HTTPS/WSS (always TLS) on `port` (default 443), endpoints
   * under AWS's host names and without a port when it is 443: the control plane at
   * `kinesisvideo.<region>.amazonaws.com`, signaling at `m-<id>` (master WSS), `v-<id>`
   * (viewer WSS) and `r-<id>` (HTTPS) `.kinesisvideo.<region>.amazonaws.com`, and a STUN
   * server on UDP `port` too (`stun.kinesisvideo.<region>.amazonaws.com:443`). With
   * `tls: true` the certificate comes from `pki` and covers those names. Clients map the
   * names to `host` (a hosts file).
   */
  awsNames?: boolean;
  /** CA used for tls: true and for the IoT endpoint; generated when needed. */
  pki?: TestPki;
  /** Channels that exist from the start (ARNs are stable per name and region). */
  channels?: string[];
  /** DescribeSignalingChannel of an unknown name creates it (default false, like AWS). */
  autoCreateChannels?: boolean;
  maxViewers?: number;
  maxPayloadBytes?: number;
  idleTimeoutMs?: number;
  maxConnectionMs?: number;
  /** Time between GO_AWAY and the server closing the connections on close() (default 1000 ms). */
  closeGraceMs?: number;
  /** 'auto' (default): coturn if installed; true: fail when it is not; false: none. */
  turn?: boolean | 'auto';
  turnTtlSec?: number;
  stun?: boolean;
  /** IoT credentials endpoint (mutual TLS). */
  iot?: { roleAliases: string[]; credentialTtlSec?: number };
  /** The server's clock runs this far ahead of the machine's (tests of clock skew). */
  clockOffsetMs?: number;
  maxBodyBytes?: number;
}

export interface LocalServiceEvents {
  connect: [peer: Peer];
  disconnect: [peer: Peer, code: number, reason: string];
  protocolError: [peer: Peer, errorType: string, description: string, statusSent: boolean];
  /** A call or upgrade refused (authentication, limits, bad input). */
  rejected: [what: string, status: number, awsCode: string, message: string];
  call: [operation: string];
}

export class LocalKvsService extends EventEmitter<LocalServiceEvents> {
  readonly region: string;
  readonly accountId: string;
  readonly host: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  private readonly api: ControlPlaneApi;
  private readonly temporaryKeys = new Map<string, KnownKey>();
  private readonly verifier: SigV4Verifier;
  private readonly router: SignalingRouter;
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  private server: Server | undefined;
  private tlsPem: Pem | undefined;
  private boundPort = 0;
  private stun: StunServer | undefined;
  private stunAws: StunServer | undefined;
  private coturn: CoturnServer | undefined;
  private iotServer: IotCredentialsServer | undefined;
  private pkiValue: TestPki | undefined;
  private clockOffsetMs: number;
  private closed = false;
  private readonly limits: RouterLimits;
  /** The `<id>` of the m-/v-/r- signaling host names (stable per account and region). */
  private readonly cellId: string;

  constructor(private readonly opts: LocalServiceOptions = {}) {
    super();
    this.region = opts.region ?? 'us-west-2';
    this.accountId = opts.accountId ?? '123456789012';
    this.host = opts.host ?? '127.0.0.1';
    this.clockOffsetMs = opts.clockOffsetMs ?? 0;
    this.cellId = createHash('sha256').update(`${this.accountId}/${this.region}`).digest('hex').slice(0, 8);
    this.credentials = opts.credentials ?? {
      accessKeyId: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`,
      secretAccessKey: randomBytes(30).toString('base64'),
    };
    this.limits = {
      maxViewers: opts.maxViewers ?? 10,
      maxPayloadBytes: opts.maxPayloadBytes ?? 10 * 1024,
      idleTimeoutMs: opts.idleTimeoutMs ?? 10 * 60_000,
      maxConnectionMs: opts.maxConnectionMs ?? 60 * 60_000,
    };
    this.verifier = new SigV4Verifier({
      region: this.region,
      service: 'kinesisvideo',
      now: () => this.now(),
      lookup: (id) =>
        id === this.credentials.accessKeyId ? { secretAccessKey: this.credentials.secretAccessKey } : this.temporaryKeys.get(id),
    });
    this.router = new SignalingRouter(
      this.limits,
      (arn) => (this.api.channelByArn(arn)?.messageTtlSeconds ?? 0) * 1000,
      () => this.now(),
    );
    this.router.on('connect', (p) => this.emit('connect', p));
    this.router.on('disconnect', (p, code, reason) => this.emit('disconnect', p, code, reason));
    this.router.on('protocolError', (p, t, d, s) => this.emit('protocolError', p, t, d, s));
    this.api = new ControlPlaneApi({
      region: this.region,
      accountId: this.accountId,
      now: () => this.now(),
      autoCreateChannels: opts.autoCreateChannels ?? false,
      endpoints: (role) => this.signalingEndpoints(role),
      iceServers: (c, clientId) => {
        const ttl = this.opts.turnTtlSec ?? 300;
        const list: IceServerEntry[] = [];
        if (this.coturn) {
          const t = this.coturn.credentials(`${c.name}.${clientId}`, ttl, this.now());
          list.push({ Uris: t.uris, Username: t.username, Password: t.password, Ttl: ttl });
        }
        if (this.stun) list.push({ Uris: [this.stun.url], Username: '', Password: '', Ttl: ttl });
        return list;
      },
    });
    for (const name of opts.channels ?? []) this.api.createChannel(name);
  }

  now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  setClockOffsetMs(ms: number): void {
    this.clockOffsetMs = ms;
  }

  get port(): number {
    return this.boundPort;
  }

  get tls(): boolean {
    return this.tlsPem !== undefined;
  }

  private get hostForUrl(): string {
    return this.host.includes(':') ? `[${this.host}]` : this.host;
  }

  /** `:port`, or nothing for AWS's names on 443 (AWS's endpoints carry no port). */
  private get portSuffix(): string {
    return this.opts.awsNames && this.boundPort === 443 ? '' : `:${this.boundPort}`;
  }

  /** The AWS host names this service answers for with `awsNames` (what a hosts file maps to `host`). */
  get awsHostNames(): string[] {
    if (!this.opts.awsNames) return [];
    const zone = `kinesisvideo.${this.region}.${this.region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`;
    return [zone, `m-${this.cellId}.${zone}`, `v-${this.cellId}.${zone}`, `r-${this.cellId}.${zone}`, `stun.${zone}`];
  }

  /** Control-plane endpoint for the @aws-sdk clients (`endpoint` option). */
  get endpoint(): string {
    if (this.opts.awsNames) return `https://${this.awsHostNames[0]}${this.portSuffix}`;
    return `${this.tls ? 'https' : 'http'}://${this.hostForUrl}:${this.boundPort}`;
  }

  /** The master's signaling endpoint. */
  get wssEndpoint(): string {
    return this.signalingEndpoints('MASTER').wss;
  }

  private signalingEndpoints(role: Role): { wss: string; https: string } {
    if (this.opts.awsNames) {
      const [, master, viewer, https] = this.awsHostNames;
      return { wss: `wss://${role === 'MASTER' ? master : viewer}${this.portSuffix}`, https: `https://${https}${this.portSuffix}` };
    }
    const base = `${this.hostForUrl}:${this.boundPort}`;
    return { wss: `${this.tls ? 'wss' : 'ws'}://${base}`, https: `${this.tls ? 'https' : 'http'}://${base}` };
  }

  /** The CA that signed the HTTPS/WSS and IoT certificates (undefined without TLS and IoT). */
  get caCert(): string | undefined {
    return this.pkiValue?.ca.cert;
  }

  get pki(): TestPki | undefined {
    return this.pkiValue;
  }

  get stunUrl(): string | undefined {
    return this.stun?.url;
  }

  get turnAvailable(): boolean {
    return this.coturn !== undefined;
  }

  get iotEndpoint(): string | undefined {
    return this.iotServer?.endpoint;
  }

  /** Issues a device certificate for the IoT endpoint (CN = thing name). */
  issueDeviceCertificate(thingName: string): Pem & { ca: string } {
    if (!this.pkiValue) throw new KvsError('ERR_LOCAL_SERVICE', 'the IoT endpoint is not enabled (option iot)');
    return { ...this.pkiValue.issueClient(thingName), ca: this.pkiValue.ca.cert };
  }

  /** Channels by name. */
  get channels(): ReadonlyMap<string, ChannelInfo> {
    return this.api.channels;
  }

  channelArn(name: string): string {
    return this.api.channelArn(name);
  }

  createChannel(name: string, messageTtlSeconds = 60, tags: Record<string, string> = {}): ChannelInfo {
    return this.api.createChannel(name, messageTtlSeconds, tags);
  }

  peers(channelName: string): { master: boolean; viewers: string[] } {
    return this.router.peers(this.channelArn(channelName));
  }

  /** Temporary keys (what the IoT endpoint hands out); they stop working at `expiration`. */
  issueTemporaryCredentials(ttlSec: number): IssuedCredentials {
    const accessKeyId = `ASIA${randomBytes(8).toString('hex').toUpperCase()}`;
    const creds: IssuedCredentials = {
      accessKeyId,
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: randomBytes(48).toString('base64'),
      expiration: new Date(this.now() + ttlSec * 1000),
    };
    this.temporaryKeys.set(accessKeyId, {
      secretAccessKey: creds.secretAccessKey,
      sessionToken: creds.sessionToken,
      expiresAtMs: creds.expiration.getTime(),
    });
    // Forget keys long expired so that a long-running rig does not grow without bound.
    const horizon = this.now() - 3_600_000;
    for (const [k, v] of this.temporaryKeys) if ((v.expiresAtMs ?? Infinity) < horizon) this.temporaryKeys.delete(k);
    return creds;
  }

  async start(): Promise<this> {
    const tlsOpt = this.opts.awsNames && this.opts.tls === undefined ? true : this.opts.tls;
    if (this.opts.awsNames && !tlsOpt) throw new KvsError('ERR_LOCAL_SERVICE', 'awsNames serves HTTPS/WSS only: tls cannot be false');
    if (tlsOpt || this.opts.iot) this.pkiValue = this.opts.pki ?? createTestPki();
    if (tlsOpt === true && this.opts.awsNames && this.pkiValue) {
      const names = this.awsHostNames;
      this.tlsPem = this.pkiValue.issueServer([...names, `*.${names[0] ?? ''}`, 'localhost'], isIP(this.host) ? [this.host] : []);
    } else if (tlsOpt === true) this.tlsPem = this.pkiValue?.server;
    else if (tlsOpt) this.tlsPem = tlsOpt;
    const handler = (req: IncomingMessage, res: ServerResponse): void => this.onRequest(req, res);
    const server = this.tlsPem ? createHttpsServer({ cert: this.tlsPem.cert, key: this.tlsPem.key }, handler) : createHttpServer(handler);
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.onUpgrade(req, socket, head));
    server.on('clientError', (_err, socket: Socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    const port = await listen(server, this.opts.port ?? (this.opts.awsNames ? 443 : 0), this.host);
    this.server = server;
    this.boundPort = port;
    try {
      if (this.opts.stun !== false) {
        this.stun = new StunServer(this.host);
        await this.stun.start();
        if (this.opts.awsNames) {
          // stun:stun.kinesisvideo.<region>.amazonaws.com:443, what clients add on their own
          this.stunAws = new StunServer(this.host);
          await this.stunAws.start(this.boundPort);
        }
      }
      const turn = this.opts.turn ?? 'auto';
      if (turn === true || (turn === 'auto' && CoturnServer.available())) {
        // With a CA the clients trust, TCP clients get TURN over TLS (turns:), as KVS gives.
        const tls = this.pkiValue?.issueServer(['localhost'], [this.host]);
        this.coturn = new CoturnServer({ host: this.host, ...(tls ? { tls } : {}) });
        await this.coturn.start();
      }
      if (this.opts.iot && this.pkiValue) {
        const ttl = this.opts.iot.credentialTtlSec ?? 3600;
        this.iotServer = new IotCredentialsServer({
          host: this.host,
          server: this.pkiValue.server,
          clientCa: this.pkiValue.ca.cert,
          roleAliases: this.opts.iot.roleAliases,
          issue: () => this.issueTemporaryCredentials(ttl),
          now: () => this.now(),
        });
        await this.iotServer.start();
      }
    } catch (err) {
      await this.kill();
      throw err;
    }
    return this;
  }

  /** Sends GO_AWAY to the channel's connections (all channels when no name is given). */
  goAway(channelName?: string): number {
    return this.router.broadcast('GO_AWAY', channelName === undefined ? undefined : this.channelArn(channelName));
  }

  /** Sends RECONNECT_ICE_SERVER to the channel's connections (all channels when no name is given). */
  reconnectIceServer(channelName?: string): number {
    return this.router.broadcast('RECONNECT_ICE_SERVER', channelName === undefined ? undefined : this.channelArn(channelName));
  }

  /** Graceful shutdown: GO_AWAY to everyone, a grace period, then everything closes. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    const hadPeers = this.router.broadcast('GO_AWAY') > 0;
    if (hadPeers) {
      const grace = this.opts.closeGraceMs ?? 1000;
      await new Promise((r) => setTimeout(r, grace));
    }
    this.router.closeAll(1001, 'service shutting down');
    await this.kill();
  }

  /** Abrupt stop, as a crash would: connections dropped without GO_AWAY. Idempotent. */
  async kill(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.router.terminateAll();
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    this.wss.close();
    await Promise.all([this.stun?.close(), this.stunAws?.close(), this.coturn?.close(), this.iotServer?.close()]);
  }

  // ---- control plane -------------------------------------------------------------------

  private sendJson(res: ServerResponse, status: number, body: object, extra: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'x-amzn-requestid': randomUUID(),
      date: new Date(this.now()).toUTCString(),
      ...extra,
    });
    res.end(text);
  }

  private sendError(res: ServerResponse, what: string, e: AwsErrorArgs): void {
    this.emit('rejected', what, e.status, e.awsCode, e.message);
    this.sendJson(res, e.status, { __type: e.awsCode, message: e.message }, { 'x-amzn-errortype': e.awsCode });
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const limit = this.opts.maxBodyBytes ?? 1024 * 1024;
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) tooLarge = true;
      else chunks.push(c);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (tooLarge) {
        return this.sendError(res, path, { status: 413, awsCode: 'SerializationException', message: `request body over ${limit} bytes` });
      }
      const body = Buffer.concat(chunks);
      const auth = this.verifier.verifyHeaderAuth({ method: req.method ?? 'GET', rawUrl: req.url ?? '/', headers: req.headers, body });
      if (!auth.ok) return this.sendError(res, path, auth);
      let input: Record<string, unknown> = {};
      if (body.length) {
        try {
          const parsed: unknown = JSON.parse(body.toString('utf8'));
          if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
          input = parsed as Record<string, unknown>;
        } catch {
          return this.sendError(res, path, { status: 400, awsCode: 'SerializationException', message: 'request body is not a JSON object' });
        }
      }
      try {
        if (req.method !== 'POST') throw new HttpError({ status: 404, awsCode: 'UnknownOperationException', message: `${req.method ?? ''} ${path}` });
        this.emit('call', path);
        this.sendJson(res, 200, this.api.dispatch(path, input));
      } catch (err) {
        if (err instanceof HttpError) return this.sendError(res, path, err.args);
        return this.sendError(res, path, { status: 500, awsCode: 'InternalFailure', message: String(err) });
      }
    });
  }

  // ---- signaling WebSocket -------------------------------------------------------------

  private refuseUpgrade(socket: Socket, what: string, e: AwsErrorArgs): void {
    this.emit('rejected', what, e.status, e.awsCode, e.message);
    const body = JSON.stringify({ __type: e.awsCode, message: e.message });
    const reason = e.status === 403 ? 'Forbidden' : e.status === 404 ? 'Not Found' : 'Bad Request';
    socket.end(
      `HTTP/1.1 ${e.status} ${reason}\r\n` +
        `Content-Type: application/json\r\nx-amzn-ErrorType: ${e.awsCode}\r\n` +
        `Date: ${new Date(this.now()).toUTCString()}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }

  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    const rawUrl = req.url ?? '/';
    const auth: VerifyResult = this.verifier.verifyPresigned({ method: req.method ?? 'GET', rawUrl, headers: req.headers });
    if (!auth.ok) return this.refuseUpgrade(socket, 'connect', auth);
    const params = new URL(rawUrl, 'http://local').searchParams;
    const arn = params.get('X-Amz-ChannelARN');
    if (!arn) return this.refuseUpgrade(socket, 'connect', { status: 400, awsCode: 'InvalidArgumentException', message: 'X-Amz-ChannelARN is required' });
    if (!this.api.channelByArn(arn)) {
      return this.refuseUpgrade(socket, 'connect', { status: 404, awsCode: 'ResourceNotFoundException', message: `The requested channel is not found or not active: ${arn}` });
    }
    const clientId = params.get('X-Amz-ClientId') ?? undefined;
    const role: Role = clientId === undefined ? 'MASTER' : 'VIEWER';
    if (clientId !== undefined && !/^[a-zA-Z0-9_.-]{1,256}$/.test(clientId)) {
      return this.refuseUpgrade(socket, 'connect', { status: 400, awsCode: 'InvalidArgumentException', message: 'X-Amz-ClientId must match [a-zA-Z0-9_.-]{1,256}' });
    }
    if (clientId !== undefined && !this.router.canAdmitViewer(arn, clientId)) {
      return this.refuseUpgrade(socket, 'connect', {
        status: 400,
        awsCode: 'ClientLimitExceededException',
        message: `ClientLimitExceeded: the channel already has ${this.limits.maxViewers} viewers`,
      });
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (this.closed) {
        ws.terminate();
        return;
      }
      this.router.attach({ ws, role, clientId, channelArn: arn });
    });
  }
}

/** One line describing a signaling message the service refused or dropped (for its log). */
export function describeProtocolError(peer: Peer, errorType: string, description: string, statusSent: boolean): string {
  const who = peer.role === 'MASTER' ? 'master' : `viewer ${peer.clientId ?? ''}`;
  return `signaling message from ${who} on ${peer.channelArn} not delivered: ${description} (${errorType}; ${
    statusSent ? 'STATUS_RESPONSE sent' : 'no correlationId, no STATUS_RESPONSE'
  })`;
}

export async function startLocalService(opts: LocalServiceOptions = {}): Promise<LocalKvsService> {
  return new LocalKvsService(opts).start();
}
