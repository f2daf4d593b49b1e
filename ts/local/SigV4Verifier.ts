import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * Server-side AWS Signature Version 4 verification, written from the specification (not from
 * the client libraries it checks), for both header auth (control plane) and query presigning
 * (signaling WebSocket upgrade).
 */

export interface KnownKey {
  secretAccessKey: string;
  /** Temporary keys must come with this token (X-Amz-Security-Token). */
  sessionToken?: string;
  /** Temporary keys stop being accepted at this time (ms since epoch). */
  expiresAtMs?: number;
}

export type VerifyResult =
  | { ok: true; accessKeyId: string }
  | { ok: false; status: number; awsCode: string; message: string };

export interface VerifierOptions {
  region: string;
  service: string;
  lookup: (accessKeyId: string) => KnownKey | undefined;
  /** The server's clock (ms); tests skew it. */
  now: () => number;
  /** Allowed difference between the request's date and the server's clock (AWS: 5 minutes). */
  maxSkewMs?: number;
}

export interface SignedRequest {
  method: string;
  /** Path and query exactly as received (req.url). */
  rawUrl: string;
  headers: IncomingHttpHeaders;
  body?: Buffer;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
const EMPTY_SHA256 = createHash('sha256').update('').digest('hex');
const MAX_PRESIGN_EXPIRES = 604_800;

function awsUriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function splitUrl(rawUrl: string): { path: string; pairs: Array<[string, string]> } {
  const q = rawUrl.indexOf('?');
  const path = q < 0 ? rawUrl : rawUrl.slice(0, q);
  const query = q < 0 ? '' : rawUrl.slice(q + 1);
  const pairs: Array<[string, string]> = [];
  for (const part of query.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const k = eq < 0 ? part : part.slice(0, eq);
    const v = eq < 0 ? '' : part.slice(eq + 1);
    pairs.push([safeDecode(k), safeDecode(v)]);
  }
  return { path: path || '/', pairs };
}

function canonicalPath(path: string): string {
  // Non-S3 services sign the path as sent, escaped once more segment by segment.
  return path
    .split('/')
    .map((seg) => awsUriEncode(seg))
    .join('/');
}

function canonicalQuery(pairs: Array<[string, string]>, skip: string | undefined): string {
  return pairs
    .filter(([k]) => k !== skip)
    .map(([k, v]) => [awsUriEncode(k), awsUriEncode(v)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(',') : v;
}

function canonicalHeaders(headers: IncomingHttpHeaders, signed: string[]): string | undefined {
  let out = '';
  for (const name of signed) {
    const v = headerValue(headers, name);
    if (v === undefined) return undefined;
    out += `${name}:${v.trim().replace(/\s+/g, ' ')}\n`;
  }
  return out;
}

function parseAmzDate(s: string | undefined): number | undefined {
  const m = s === undefined ? null : /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return undefined;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

function formatAmzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

function deny(status: number, awsCode: string, message: string): VerifyResult {
  return { ok: false, status, awsCode, message };
}

export class SigV4Verifier {
  private readonly maxSkewMs: number;

  constructor(private readonly opts: VerifierOptions) {
    this.maxSkewMs = opts.maxSkewMs ?? 5 * 60_000;
  }

  /** Authorization-header auth, as the @aws-sdk clients and the C SDK sign control-plane calls. */
  verifyHeaderAuth(req: SignedRequest): VerifyResult {
    const auth = headerValue(req.headers, 'authorization');
    if (!auth) {
      return deny(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
    }
    const m = /^AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]+)\s*$/.exec(auth);
    if (!m || m[1] === undefined || m[2] === undefined || m[3] === undefined) {
      return deny(403, 'IncompleteSignatureException', `Authorization header is not a valid ${ALGORITHM} header`);
    }
    const amzDate = headerValue(req.headers, 'x-amz-date');
    const body = req.body ?? Buffer.alloc(0);
    const bodyHash = createHash('sha256').update(body).digest('hex');
    const declared = headerValue(req.headers, 'x-amz-content-sha256');
    if (declared !== undefined && declared !== 'UNSIGNED-PAYLOAD' && declared !== bodyHash) {
      return deny(403, 'InvalidSignatureException', 'x-amz-content-sha256 does not match the request body');
    }
    const { path, pairs } = splitUrl(req.rawUrl);
    return this.check({
      method: req.method,
      path,
      query: canonicalQuery(pairs, undefined),
      headers: req.headers,
      credential: m[1],
      signedHeaders: m[2],
      signature: m[3],
      amzDate,
      expiresSec: undefined,
      sessionToken: headerValue(req.headers, 'x-amz-security-token'),
      payloadHashes: [declared ?? bodyHash],
    });
  }

  /** Query-string presigned auth, as the signaling WebSocket URL is signed. */
  verifyPresigned(req: SignedRequest): VerifyResult {
    const { path, pairs } = splitUrl(req.rawUrl);
    const q = new Map(pairs);
    const signature = q.get('X-Amz-Signature');
    const credential = q.get('X-Amz-Credential');
    if (!signature && !credential && !q.has('X-Amz-Algorithm')) {
      return deny(403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
    }
    if (q.get('X-Amz-Algorithm') !== ALGORITHM || !signature || !credential || !q.get('X-Amz-SignedHeaders')) {
      return deny(
        403,
        'AuthorizationQueryParametersError',
        'X-Amz-Algorithm, X-Amz-Credential, X-Amz-SignedHeaders and X-Amz-Signature are required',
      );
    }
    const expiresRaw = q.get('X-Amz-Expires');
    const expiresSec = expiresRaw === undefined ? NaN : Number(expiresRaw);
    if (!Number.isInteger(expiresSec) || expiresSec < 1 || expiresSec > MAX_PRESIGN_EXPIRES) {
      return deny(
        403,
        'AuthorizationQueryParametersError',
        `X-Amz-Expires must be an integer between 1 and ${MAX_PRESIGN_EXPIRES} (one week), got "${expiresRaw ?? ''}"`,
      );
    }
    return this.check({
      method: req.method,
      path,
      query: canonicalQuery(pairs, 'X-Amz-Signature'),
      headers: req.headers,
      credential,
      signedHeaders: q.get('X-Amz-SignedHeaders') ?? '',
      signature,
      amzDate: q.get('X-Amz-Date'),
      expiresSec,
      sessionToken: q.get('X-Amz-Security-Token'),
      payloadHashes: [EMPTY_SHA256, 'UNSIGNED-PAYLOAD'],
    });
  }

  private check(p: {
    method: string;
    path: string;
    query: string;
    headers: IncomingHttpHeaders;
    credential: string;
    signedHeaders: string;
    signature: string;
    amzDate: string | undefined;
    expiresSec: number | undefined;
    sessionToken: string | undefined;
    payloadHashes: string[];
  }): VerifyResult {
    const [accessKeyId, scopeDate, region, service, terminator, ...rest] = p.credential.split('/');
    if (!accessKeyId || !scopeDate || !region || !service || terminator !== 'aws4_request' || rest.length) {
      return deny(403, 'IncompleteSignatureException', `Credential "${p.credential}" is not key/date/region/service/aws4_request`);
    }
    const key = this.opts.lookup(accessKeyId);
    if (!key) {
      return deny(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    }
    const now = this.opts.now();
    if (key.sessionToken !== undefined && p.sessionToken !== key.sessionToken) {
      return deny(403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    }
    if (key.expiresAtMs !== undefined && key.expiresAtMs <= now) {
      return deny(403, 'ExpiredTokenException', 'The security token included in the request is expired');
    }
    const t = parseAmzDate(p.amzDate);
    if (t === undefined) {
      return deny(403, 'IncompleteSignatureException', 'X-Amz-Date is missing or not yyyyMMddTHHmmssZ');
    }
    if (p.expiresSec === undefined) {
      if (t < now - this.maxSkewMs) {
        return deny(
          403,
          'InvalidSignatureException',
          `Signature expired: ${p.amzDate} is now earlier than ${formatAmzDate(now - this.maxSkewMs)} (${formatAmzDate(now)} - 5 min.)`,
        );
      }
      if (t > now + this.maxSkewMs) {
        return deny(
          403,
          'InvalidSignatureException',
          `Signature not yet current: ${p.amzDate} is still later than ${formatAmzDate(now + this.maxSkewMs)} (${formatAmzDate(now)} + 5 min.)`,
        );
      }
    } else {
      if (t > now + this.maxSkewMs) {
        return deny(403, 'InvalidSignatureException', `Signature not yet current: ${p.amzDate} is still later than ${formatAmzDate(now + this.maxSkewMs)}`);
      }
      if (t + p.expiresSec * 1000 < now) {
        return deny(403, 'InvalidSignatureException', `Signature expired: ${p.amzDate} + ${p.expiresSec} s is earlier than ${formatAmzDate(now)}`);
      }
    }
    if (scopeDate !== p.amzDate?.slice(0, 8)) {
      return deny(403, 'InvalidSignatureException', `Credential date ${scopeDate} does not match X-Amz-Date ${p.amzDate ?? ''}`);
    }
    if (region !== this.opts.region) {
      return deny(403, 'InvalidSignatureException', `Credential should be scoped to a valid region, not '${region}'. Expected '${this.opts.region}'`);
    }
    if (service !== this.opts.service) {
      return deny(403, 'InvalidSignatureException', `Credential should be scoped to correct service: '${this.opts.service}'`);
    }
    const signed = p.signedHeaders.split(';');
    if (!signed.includes('host')) {
      return deny(403, 'InvalidSignatureException', 'SignedHeaders must include host');
    }
    const headersBlock = canonicalHeaders(p.headers, signed);
    if (headersBlock === undefined) {
      return deny(403, 'InvalidSignatureException', `a header listed in SignedHeaders (${p.signedHeaders}) is missing`);
    }
    const scope = `${scopeDate}/${region}/${service}/aws4_request`;
    const kSigning = hmac(hmac(hmac(hmac(`AWS4${key.secretAccessKey}`, scopeDate), region), service), 'aws4_request');
    const given = Buffer.from(p.signature, 'hex');
    for (const payloadHash of p.payloadHashes) {
      const canonical = [p.method, canonicalPath(p.path), p.query, headersBlock, p.signedHeaders, payloadHash].join('\n');
      const stringToSign = [ALGORITHM, p.amzDate, scope, createHash('sha256').update(canonical, 'utf8').digest('hex')].join('\n');
      const expected = hmac(kSigning, stringToSign);
      if (given.length === expected.length && timingSafeEqual(given, expected)) return { ok: true, accessKeyId };
    }
    return deny(
      403,
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.',
    );
  }
}
