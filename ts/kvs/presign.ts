import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentials } from './Credentials.js';
import { KvsUsageError } from './KvsError.js';

/** RFC 3986 encoding as SigV4 wants it: everything but unreserved characters. */
export function awsUriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export interface PresignOptions {
  /** `wss://host[:port][/path]` (or ws:// for a plain local service). */
  endpoint: string;
  region: string;
  credentials: AwsCredentials;
  channelArn: string;
  /** Present for a viewer, absent for the master. */
  clientId?: string;
  signingDate: Date;
  /** X-Amz-Expires; AWS accepts up to 604800 (7 days). Default 299 like the JS SDK. */
  expiresInSec?: number;
  service?: string;
}

type PresignRequest = Parameters<SignatureV4['presign']>[0];

/** The signaling WebSocket URL, SigV4 query-presigned (signed header: host only). */
export async function presignSignalingUrl(o: PresignOptions): Promise<string> {
  let url: URL;
  try {
    url = new URL(o.endpoint);
  } catch (err) {
    throw new KvsUsageError(`signaling endpoint "${o.endpoint}" is not a URL (${String(err)})`);
  }
  if (url.protocol !== 'wss:' && url.protocol !== 'ws:') {
    throw new KvsUsageError(`signaling endpoint "${o.endpoint}" must be wss:// (or ws://)`);
  }
  const query: Record<string, string> = { 'X-Amz-ChannelARN': o.channelArn };
  if (o.clientId !== undefined) query['X-Amz-ClientId'] = o.clientId;
  const signer = new SignatureV4({
    service: o.service ?? 'kinesisvideo',
    region: o.region,
    credentials: {
      accessKeyId: o.credentials.accessKeyId,
      secretAccessKey: o.credentials.secretAccessKey,
      ...(o.credentials.sessionToken ? { sessionToken: o.credentials.sessionToken } : {}),
    },
    sha256: Sha256,
    uriEscapePath: true,
  });
  const request: PresignRequest = {
    method: 'GET',
    protocol: url.protocol,
    hostname: url.hostname,
    path: url.pathname || '/',
    query,
    headers: { host: url.host },
    ...(url.port ? { port: Number(url.port) } : {}),
  };
  const signed = await signer.presign(request, {
    expiresIn: o.expiresInSec ?? 299,
    signingDate: o.signingDate,
  });
  const parts: string[] = [];
  for (const [k, v] of Object.entries(signed.query ?? {})) {
    if (typeof v === 'string') parts.push(`${awsUriEncode(k)}=${awsUriEncode(v)}`);
  }
  return `${url.protocol}//${url.host}${url.pathname || '/'}?${parts.join('&')}`;
}
