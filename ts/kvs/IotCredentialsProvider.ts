import { request } from 'node:https';
import { KvsError, errorMessage } from './KvsError.js';
import { RefreshingCredentialsProvider, type AwsCredentials, type RefreshOptions } from './Credentials.js';

export interface IotCredentialsOptions extends RefreshOptions {
  /** `host`, `host:port` or `https://host:port` of the AWS IoT credentials provider. */
  endpoint: string;
  roleAlias: string;
  thingName: string;
  /** PEM certificate and private key of the device. */
  cert: string | Buffer;
  key: string | Buffer;
  /** CA bundle to trust for the endpoint (default: Node's roots). */
  ca?: string | Buffer;
  timeoutMs?: number;
}

interface IotAnswer {
  credentials?: { accessKeyId?: string; secretAccessKey?: string; sessionToken?: string; expiration?: string };
}

/**
 * The AWS IoT credentials provider: `GET /role-aliases/{alias}/credentials` over mutual TLS
 * with the device certificate, header `x-amzn-iot-thingname`. Temporary credentials, refreshed
 * before they expire; the answer's Date header corrects the shared clock.
 */
export class IotCredentialsProvider extends RefreshingCredentialsProvider {
  private readonly url: URL;

  constructor(private readonly opts: IotCredentialsOptions) {
    super(opts);
    const base = /^https?:\/\//.test(opts.endpoint) ? opts.endpoint : `https://${opts.endpoint}`;
    this.url = new URL(`/role-aliases/${encodeURIComponent(opts.roleAlias)}/credentials`, base);
  }

  protected load(): Promise<AwsCredentials> {
    return new Promise<AwsCredentials>((resolve, reject) => {
      const req = request(
        this.url,
        {
          method: 'GET',
          cert: this.opts.cert,
          key: this.opts.key,
          ...(this.opts.ca === undefined ? {} : { ca: this.opts.ca }),
          headers: { 'x-amzn-iot-thingname': this.opts.thingName, accept: 'application/json' },
          timeout: this.opts.timeoutMs ?? 10_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            this.clock.updateFromDateHeader(res.headers.date);
            const body = Buffer.concat(chunks).toString('utf8');
            const status = res.statusCode ?? 0;
            if (status !== 200) {
              const code = status === 401 || status === 403 ? 'ERR_KVS_AUTH' : 'ERR_KVS_CREDENTIALS';
              reject(
                new KvsError(code, `IoT credentials provider ${this.url.host} answered ${status}: ${body.slice(0, 200)}`, {
                  statusCode: status,
                }),
              );
              return;
            }
            let parsed: IotAnswer;
            try {
              parsed = JSON.parse(body) as IotAnswer;
            } catch {
              reject(new KvsError('ERR_KVS_CREDENTIALS', `IoT credentials provider answered non-JSON: ${body.slice(0, 200)}`));
              return;
            }
            const c = parsed.credentials;
            if (!c?.accessKeyId || !c.secretAccessKey) {
              reject(new KvsError('ERR_KVS_CREDENTIALS', 'IoT credentials provider answered without credentials'));
              return;
            }
            const creds: AwsCredentials = { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey };
            if (c.sessionToken) creds.sessionToken = c.sessionToken;
            if (c.expiration && !Number.isNaN(Date.parse(c.expiration))) creds.expiration = new Date(c.expiration);
            resolve(creds);
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', (err) =>
        reject(
          new KvsError('ERR_KVS_CREDENTIALS', `IoT credentials provider ${this.url.host}: ${errorMessage(err)}`, {
            cause: err,
          }),
        ),
      );
      req.end();
    });
  }
}
