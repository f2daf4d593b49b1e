import { createHash, randomBytes } from 'node:crypto';

export interface ChannelInfo {
  name: string;
  arn: string;
  type: 'SINGLE_MASTER';
  messageTtlSeconds: number;
  tags: Record<string, string>;
  createdAt: number;
  version: string;
}

export interface AwsErrorArgs {
  status: number;
  awsCode: string;
  message: string;
}

export class HttpError extends Error {
  constructor(readonly args: AwsErrorArgs) {
    super(args.message);
  }
}

function stableChannelId(name: string, region: string): string {
  const h = createHash('sha256').update(`${region}/${name}`).digest();
  return String(h.readUIntBE(0, 6) % 10_000_000_000_000).padStart(13, '1');
}

export interface IceServerEntry {
  Uris: string[];
  Username: string;
  Password: string;
  Ttl: number;
}

export interface ControlPlaneApiOptions {
  region: string;
  accountId: string;
  now: () => number;
  autoCreateChannels: boolean;
  endpoints: (role: 'MASTER' | 'VIEWER') => { wss: string; https: string };
  iceServers: (channel: ChannelInfo, clientId: string) => IceServerEntry[];
}

/**
 * The control-plane operations of the local service (restJson1 over POST, as the
 * `@aws-sdk/client-kinesis-video*` clients call them) and its channel table. Authentication
 * happens before dispatch; errors are thrown as HttpError with the AWS error type.
 */
export class ControlPlaneApi {
  readonly channels = new Map<string, ChannelInfo>();

  constructor(private readonly opts: ControlPlaneApiOptions) {}

  channelArn(name: string): string {
    return `arn:aws:kinesisvideo:${this.opts.region}:${this.opts.accountId}:channel/${name}/${stableChannelId(name, this.opts.region)}`;
  }

  createChannel(name: string, messageTtlSeconds = 60, tags: Record<string, string> = {}): ChannelInfo {
    const existing = this.channels.get(name);
    if (existing) return existing;
    const info: ChannelInfo = {
      name,
      arn: this.channelArn(name),
      type: 'SINGLE_MASTER',
      messageTtlSeconds,
      tags,
      createdAt: this.opts.now(),
      version: randomBytes(10).toString('hex'),
    };
    this.channels.set(name, info);
    return info;
  }

  channelByArn(arn: string): ChannelInfo | undefined {
    for (const c of this.channels.values()) if (c.arn === arn) return c;
    return undefined;
  }

  private requireChannel(input: Record<string, unknown>): ChannelInfo {
    const arn = input['ChannelARN'];
    const name = input['ChannelName'];
    const found =
      typeof arn === 'string' ? this.channelByArn(arn) : typeof name === 'string' ? this.channels.get(name) : undefined;
    if (typeof arn !== 'string' && typeof name !== 'string') {
      throw new HttpError({ status: 400, awsCode: 'InvalidArgumentException', message: 'ChannelARN or ChannelName is required' });
    }
    if (!found) {
      if (typeof name === 'string' && this.opts.autoCreateChannels) return this.createChannel(name);
      throw new HttpError({
        status: 404,
        awsCode: 'ResourceNotFoundException',
        message: `The requested channel is not found or not active: ${String(arn ?? name)}`,
      });
    }
    return found;
  }

  dispatch(path: string, input: Record<string, unknown>): object {
    switch (path) {
      case '/createSignalingChannel': {
        const name = input['ChannelName'];
        if (typeof name !== 'string' || !/^[a-zA-Z0-9_.-]{1,256}$/.test(name)) {
          throw new HttpError({ status: 400, awsCode: 'InvalidArgumentException', message: 'ChannelName must match [a-zA-Z0-9_.-]{1,256}' });
        }
        if (input['ChannelType'] !== undefined && input['ChannelType'] !== 'SINGLE_MASTER') {
          throw new HttpError({ status: 400, awsCode: 'InvalidArgumentException', message: 'only SINGLE_MASTER channels are supported' });
        }
        if (this.channels.has(name)) {
          throw new HttpError({ status: 400, awsCode: 'ResourceInUseException', message: `The signaling channel ${name} already exists` });
        }
        const smc = input['SingleMasterConfiguration'] as { MessageTtlSeconds?: unknown } | undefined;
        const ttl = typeof smc?.MessageTtlSeconds === 'number' ? smc.MessageTtlSeconds : 60;
        const tags: Record<string, string> = {};
        if (Array.isArray(input['Tags'])) {
          for (const t of input['Tags'] as Array<{ Key?: unknown; Value?: unknown }>) {
            if (typeof t?.Key === 'string') tags[t.Key] = typeof t.Value === 'string' ? t.Value : '';
          }
        }
        return { ChannelARN: this.createChannel(name, ttl, tags).arn };
      }
      case '/describeSignalingChannel': {
        const c = this.requireChannel(input);
        return {
          ChannelInfo: {
            ChannelName: c.name,
            ChannelARN: c.arn,
            ChannelType: c.type,
            ChannelStatus: 'ACTIVE',
            CreationTime: c.createdAt / 1000,
            SingleMasterConfiguration: { MessageTtlSeconds: c.messageTtlSeconds },
            Version: c.version,
          },
        };
      }
      case '/listSignalingChannels':
        return {
          ChannelInfoList: [...this.channels.values()].map((c) => ({
            ChannelName: c.name,
            ChannelARN: c.arn,
            ChannelType: c.type,
            ChannelStatus: 'ACTIVE',
            CreationTime: c.createdAt / 1000,
          })),
        };
      case '/deleteSignalingChannel': {
        const c = this.requireChannel(input);
        this.channels.delete(c.name);
        return {};
      }
      case '/getSignalingChannelEndpoint': {
        this.requireChannel(input);
        const cfg = input['SingleMasterChannelEndpointConfiguration'] as { Protocols?: unknown; Role?: unknown } | undefined;
        const role = cfg?.Role ?? 'MASTER';
        if (role !== 'MASTER' && role !== 'VIEWER') {
          throw new HttpError({ status: 400, awsCode: 'InvalidArgumentException', message: 'Role must be MASTER or VIEWER' });
        }
        const protocols = Array.isArray(cfg?.Protocols) ? (cfg.Protocols as unknown[]) : ['WSS', 'HTTPS'];
        const list: Array<{ Protocol: string; ResourceEndpoint: string }> = [];
        const endpoints = this.opts.endpoints(role);
        for (const p of protocols) {
          if (p === 'WSS') list.push({ Protocol: 'WSS', ResourceEndpoint: endpoints.wss });
          else if (p === 'HTTPS') list.push({ Protocol: 'HTTPS', ResourceEndpoint: endpoints.https });
          else if (p === 'WEBRTC') list.push({ Protocol: 'WEBRTC', ResourceEndpoint: endpoints.https });
          else throw new HttpError({ status: 400, awsCode: 'InvalidArgumentException', message: `unknown protocol ${String(p)}` });
        }
        return { ResourceEndpointList: list };
      }
      case '/describeMediaStorageConfiguration':
        this.requireChannel(input);
        return { MediaStorageConfiguration: { Status: 'DISABLED' } };
      case '/v1/get-ice-server-config': {
        const c = this.requireChannel(input);
        const clientId = typeof input['ClientId'] === 'string' ? input['ClientId'] : 'master';
        return { IceServerList: this.opts.iceServers(c, clientId) };
      }
      default:
        throw new HttpError({ status: 404, awsCode: 'UnknownOperationException', message: `unknown operation ${path}` });
    }
  }
}
