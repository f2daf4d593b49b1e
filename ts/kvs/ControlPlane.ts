import {
  type KinesisVideoClientConfig,
  CreateSignalingChannelCommand,
  DescribeSignalingChannelCommand,
  GetSignalingChannelEndpointCommand,
  KinesisVideoClient,
} from '@aws-sdk/client-kinesis-video';
// The signaling-plane client (GetIceServerConfig) is loaded on the first ICE server request: a
// device idles without it (its first viewer loads it).
import type { KinesisVideoSignalingClient } from '@aws-sdk/client-kinesis-video-signaling';
import { EventEmitter } from 'node:events';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { Agent } from 'node:https';
import { dirname } from 'node:path';
import { Clock } from './Clock.js';
import { toAwsSdkCredentials, type CredentialsProvider } from './Credentials.js';
import { AUTH_FAILURE_TYPES, KvsError, errorMessage } from './KvsError.js';
import type { ChannelRole, IceServer, SignalingEndpoints } from './types.js';

/**
 * The KVS control plane for one channel: describe (or create) it, resolve the WSS/HTTPS
 * endpoints per role (cached in memory and optionally in a file, re-resolved on demand after a
 * failure), and fetch ICE servers (TURN from GetIceServerConfig, refreshed before their TTL,
 * plus the regional STUN server).
 */
export interface ControlPlaneOptions {
  region: string;
  channelName: string;
  credentials: CredentialsProvider;
  /** Control-plane endpoint (default: the regional AWS one). */
  endpoint?: string;
  /** Create the channel when DescribeSignalingChannel says it does not exist. */
  createIfMissing?: boolean;
  messageTtlSeconds?: number;
  tags?: Record<string, string>;
  /** JSON file that keeps resolved endpoints across restarts (like the SDKs' signaling cache). */
  cacheFile?: string;
  /** How long a cached endpoint is used without asking again (default 24 h). */
  endpointCacheTtlMs?: number;
  /** STUN URLs put first in the ICE server list (default: the regional KVS STUN server). */
  stunUrls?: string[];
  /** Refetch TURN servers this long before their Ttl ends (default 60 s). */
  iceRefreshMarginMs?: number;
  /** Keep ICE servers fresh in the background once fetched, emitting `iceServers` (default false). */
  autoRefreshIceServers?: boolean;
  /** Extra CA certificates to trust (a local service with its own CA). */
  ca?: string | Buffer;
  /** Attempts per AWS call (SDK retries, default 3). */
  maxAttempts?: number;
  requestTimeoutMs?: number;
  clock?: Clock;
}

export interface ControlPlaneEvents {
  iceServers: [role: ChannelRole, servers: IceServer[]];
  endpoints: [role: ChannelRole, endpoints: SignalingEndpoints, source: 'aws' | 'memory' | 'file'];
  error: [err: KvsError];
}

interface CacheEntry extends SignalingEndpoints {
  resolvedAt: number;
}

interface IceCacheEntry {
  servers: IceServer[];
  expiresAt: number;
  timer: NodeJS.Timeout | undefined;
}

function awsErrorName(err: unknown): string | undefined {
  return err instanceof Error ? err.name : undefined;
}

export function toKvsError(err: unknown, what: string): KvsError {
  if (err instanceof KvsError) return err;
  const name = awsErrorName(err);
  const status = (err as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
  const opts = { cause: err, ...(name ? { awsCode: name } : {}), ...(status ? { statusCode: status } : {}) };
  if (name && AUTH_FAILURE_TYPES.has(name)) {
    return new KvsError('ERR_KVS_AUTH', `${what}: AWS refused the credentials (${name}: ${errorMessage(err)})`, opts);
  }
  if (name === 'ResourceNotFoundException') {
    return new KvsError('ERR_KVS_CHANNEL_NOT_FOUND', `${what}: ${errorMessage(err)}`, opts);
  }
  return new KvsError('ERR_KVS_CONTROL_PLANE', `${what}: ${errorMessage(err)}`, opts);
}

export class ControlPlane extends EventEmitter<ControlPlaneEvents> {
  readonly region: string;
  readonly channelName: string;
  readonly clock: Clock;
  private readonly kv: KinesisVideoClient;
  private readonly signalingClients = new Map<string, KinesisVideoSignalingClient>();
  private channelArnValue: string | undefined;
  private readonly endpointCache = new Map<ChannelRole, CacheEntry>();
  private readonly iceCache = new Map<string, IceCacheEntry>();
  private fileLoaded = false;
  private closed = false;
  private readonly agent: Agent | undefined;

  constructor(private readonly opts: ControlPlaneOptions) {
    super();
    this.region = opts.region;
    this.channelName = opts.channelName;
    this.clock = opts.clock ?? new Clock();
    this.agent = opts.ca === undefined ? undefined : new Agent({ ca: opts.ca, keepAlive: true });
    this.kv = new KinesisVideoClient(this.clientConfig(opts.endpoint));
  }

  private clientConfig(endpoint: string | undefined): KinesisVideoClientConfig {
    return {
      region: this.opts.region,
      credentials: toAwsSdkCredentials(this.opts.credentials),
      maxAttempts: this.opts.maxAttempts ?? 3,
      systemClockOffset: this.clock.skewMs,
      ...(endpoint === undefined ? {} : { endpoint }),
      requestHandler: {
        ...(this.agent ? { httpsAgent: this.agent } : {}),
        connectionTimeout: 5_000,
        requestTimeout: this.opts.requestTimeoutMs ?? 10_000,
      },
    };
  }

  /** Runs an SDK call with our clock's offset, and keeps what the SDK learned about skew. */
  private async call<T>(client: { config: { systemClockOffset: number } }, what: string, fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new KvsError('ERR_KVS_CLOSED', `${what}: the control plane is closed`);
    client.config.systemClockOffset = this.clock.skewMs;
    try {
      return await fn();
    } catch (err) {
      throw toKvsError(err, what);
    } finally {
      if (client.config.systemClockOffset !== this.clock.skewMs) this.clock.setOffsetMs(client.config.systemClockOffset);
    }
  }

  /** The channel's ARN (DescribeSignalingChannel, CreateSignalingChannel when configured). */
  async getChannelArn(opts: { refresh?: boolean } = {}): Promise<string> {
    if (this.channelArnValue && !opts.refresh) return this.channelArnValue;
    try {
      const d = await this.call(this.kv, `DescribeSignalingChannel ${this.channelName}`, () =>
        this.kv.send(new DescribeSignalingChannelCommand({ ChannelName: this.channelName })),
      );
      const arn = d.ChannelInfo?.ChannelARN;
      if (!arn) throw new KvsError('ERR_KVS_CONTROL_PLANE', `DescribeSignalingChannel ${this.channelName} answered without an ARN`);
      this.channelArnValue = arn;
      return arn;
    } catch (err) {
      if (!(err instanceof KvsError) || err.code !== 'ERR_KVS_CHANNEL_NOT_FOUND' || !this.opts.createIfMissing) throw err;
    }
    const tags = Object.entries(this.opts.tags ?? {}).map(([Key, Value]) => ({ Key, Value }));
    const created = await this.call(this.kv, `CreateSignalingChannel ${this.channelName}`, () =>
      this.kv.send(
        new CreateSignalingChannelCommand({
          ChannelName: this.channelName,
          ChannelType: 'SINGLE_MASTER',
          SingleMasterConfiguration: { MessageTtlSeconds: this.opts.messageTtlSeconds ?? 60 },
          ...(tags.length ? { Tags: tags } : {}),
        }),
      ),
    );
    if (!created.ChannelARN) throw new KvsError('ERR_KVS_CONTROL_PLANE', 'CreateSignalingChannel answered without an ARN');
    this.channelArnValue = created.ChannelARN;
    return created.ChannelARN;
  }

  private cacheKey(role: ChannelRole): string {
    return `${this.region}/${this.channelName}/${role}`;
  }

  private async loadFileCache(): Promise<void> {
    if (this.fileLoaded || !this.opts.cacheFile) return;
    this.fileLoaded = true;
    try {
      const parsed = JSON.parse(await readFile(this.opts.cacheFile, 'utf8')) as { entries?: Record<string, CacheEntry> };
      for (const role of ['MASTER', 'VIEWER'] as const) {
        const e = parsed.entries?.[this.cacheKey(role)];
        if (e && typeof e.wss === 'string' && typeof e.https === 'string' && typeof e.channelArn === 'string') {
          this.endpointCache.set(role, { ...e, resolvedAt: Number(e.resolvedAt) || 0 });
        }
      }
    } catch {
      // A missing or corrupt cache file only means asking AWS again.
    }
  }

  private async saveFileCache(): Promise<void> {
    const file = this.opts.cacheFile;
    if (!file) return;
    let entries: Record<string, CacheEntry> = {};
    try {
      entries = (JSON.parse(await readFile(file, 'utf8')) as { entries?: Record<string, CacheEntry> }).entries ?? {};
    } catch {
      entries = {};
    }
    for (const role of ['MASTER', 'VIEWER'] as const) {
      const e = this.endpointCache.get(role);
      if (e) entries[this.cacheKey(role)] = e;
      else delete entries[this.cacheKey(role)];
    }
    try {
      await mkdir(dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify({ version: 1, entries }, null, 2));
      await rename(tmp, file);
    } catch (err) {
      this.report(new KvsError('ERR_KVS_CONTROL_PLANE', `cannot write endpoint cache ${file}: ${errorMessage(err)}`, { cause: err }));
    }
  }

  /** Endpoints for the role: memory, then the cache file, then GetSignalingChannelEndpoint. */
  async getEndpoints(role: ChannelRole, opts: { refresh?: boolean } = {}): Promise<SignalingEndpoints> {
    await this.loadFileCache();
    const ttl = this.opts.endpointCacheTtlMs ?? 24 * 3_600_000;
    const cached = this.endpointCache.get(role);
    if (!opts.refresh && cached && this.clock.nowMs() - cached.resolvedAt < ttl) {
      this.channelArnValue ??= cached.channelArn;
      this.emit('endpoints', role, cached, this.fileLoaded && this.opts.cacheFile ? 'file' : 'memory');
      return cached;
    }
    const channelArn = await this.getChannelArn({ refresh: opts.refresh ?? false });
    const res = await this.call(this.kv, `GetSignalingChannelEndpoint ${role}`, () =>
      this.kv.send(
        new GetSignalingChannelEndpointCommand({
          ChannelARN: channelArn,
          SingleMasterChannelEndpointConfiguration: { Protocols: ['WSS', 'HTTPS'], Role: role },
        }),
      ),
    );
    const wss = res.ResourceEndpointList?.find((e) => e.Protocol === 'WSS')?.ResourceEndpoint;
    const https = res.ResourceEndpointList?.find((e) => e.Protocol === 'HTTPS')?.ResourceEndpoint;
    if (!wss || !https) throw new KvsError('ERR_KVS_CONTROL_PLANE', `GetSignalingChannelEndpoint ${role} lacks a WSS or HTTPS endpoint`);
    const entry: CacheEntry = { channelArn, wss, https, resolvedAt: this.clock.nowMs() };
    this.endpointCache.set(role, entry);
    await this.saveFileCache();
    this.emit('endpoints', role, entry, 'aws');
    return entry;
  }

  /** Forget the endpoints (after a failure); the next getEndpoints asks AWS. */
  async invalidateEndpoints(role?: ChannelRole): Promise<void> {
    if (role) this.endpointCache.delete(role);
    else this.endpointCache.clear();
    await this.saveFileCache();
  }

  private async signalingClient(httpsEndpoint: string): Promise<KinesisVideoSignalingClient> {
    const { KinesisVideoSignalingClient } = await import('@aws-sdk/client-kinesis-video-signaling');
    if (this.closed) throw new KvsError('ERR_KVS_CLOSED', 'GetIceServerConfig: the control plane is closed');
    let c = this.signalingClients.get(httpsEndpoint);
    if (!c) {
      c = new KinesisVideoSignalingClient(this.clientConfig(httpsEndpoint));
      this.signalingClients.set(httpsEndpoint, c);
    }
    return c;
  }

  get stunUrls(): string[] {
    if (this.opts.stunUrls) return this.opts.stunUrls;
    if (this.opts.endpoint) return [];
    const suffix = this.region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
    return [`stun:stun.kinesisvideo.${this.region}.${suffix}:443`];
  }

  /**
   * STUN + TURN servers for a peer connection. Cached until `iceRefreshMarginMs` before the
   * shortest TURN Ttl; `forceRefresh` after RECONNECT_ICE_SERVER.
   */
  async getIceServers(role: ChannelRole, clientId?: string, opts: { forceRefresh?: boolean } = {}): Promise<IceServer[]> {
    const key = `${role}/${clientId ?? ''}`;
    const cached = this.iceCache.get(key);
    if (!opts.forceRefresh && cached && cached.expiresAt > this.clock.nowMs()) return cached.servers;
    let endpoints = await this.getEndpoints(role);
    let res;
    try {
      res = await this.fetchIce(endpoints, clientId);
    } catch (err) {
      if (err instanceof KvsError && err.code === 'ERR_KVS_AUTH') throw err;
      endpoints = await this.getEndpoints(role, { refresh: true });
      res = await this.fetchIce(endpoints, clientId);
    }
    const servers: IceServer[] = this.stunUrls.map((u) => ({ urls: [u] }));
    let minTtl = Infinity;
    for (const s of res.IceServerList ?? []) {
      if (!s.Uris?.length) continue;
      const entry: IceServer = { urls: [...s.Uris] };
      if (s.Username) entry.username = s.Username;
      if (s.Password) entry.credential = s.Password;
      servers.push(entry);
      if (typeof s.Ttl === 'number' && s.Ttl > 0) minTtl = Math.min(minTtl, s.Ttl);
    }
    const ttlMs = (Number.isFinite(minTtl) ? minTtl : 300) * 1000;
    const margin = Math.min(this.opts.iceRefreshMarginMs ?? 60_000, ttlMs / 2);
    if (cached?.timer) clearTimeout(cached.timer);
    const entry: IceCacheEntry = { servers, expiresAt: this.clock.nowMs() + ttlMs - margin, timer: undefined };
    if (this.opts.autoRefreshIceServers && !this.closed) {
      entry.timer = setTimeout(() => {
        this.getIceServers(role, clientId, { forceRefresh: true }).catch((err: unknown) =>
          this.report(toKvsError(err, 'refreshing ICE servers')),
        );
      }, ttlMs - margin);
      entry.timer.unref();
    }
    this.iceCache.set(key, entry);
    this.emit('iceServers', role, servers);
    return servers;
  }

  private async fetchIce(endpoints: SignalingEndpoints, clientId: string | undefined) {
    const [client, { GetIceServerConfigCommand }] = await Promise.all([this.signalingClient(endpoints.https), import('@aws-sdk/client-kinesis-video-signaling')]);
    return this.call(client, 'GetIceServerConfig', () =>
      client.send(
        new GetIceServerConfigCommand({
          ChannelARN: endpoints.channelArn,
          Service: 'TURN',
          ...(clientId === undefined ? {} : { ClientId: clientId }),
        }),
      ),
    );
  }

  /**
   * Errors go to 'error' listeners; with none, they are dropped rather than thrown (an
   * EventEmitter 'error' with no listener would end the process of a camera).
   */
  private report(err: KvsError): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const e of this.iceCache.values()) if (e.timer) clearTimeout(e.timer);
    this.iceCache.clear();
    this.kv.destroy();
    for (const c of this.signalingClients.values()) c.destroy();
    this.signalingClients.clear();
    this.agent?.destroy();
  }
}
