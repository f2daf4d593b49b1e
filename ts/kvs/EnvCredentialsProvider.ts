import { KvsError } from './KvsError.js';
import { RefreshingCredentialsProvider, type AwsCredentials, type RefreshOptions } from './Credentials.js';

/**
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN / AWS_CREDENTIAL_EXPIRATION,
 * read again whenever the previous values are about to expire (a supervisor may rotate them).
 */
export class EnvCredentialsProvider extends RefreshingCredentialsProvider {
  constructor(
    private readonly env: NodeJS.ProcessEnv = process.env,
    opts: RefreshOptions = {},
  ) {
    super(opts);
  }

  protected async load(): Promise<AwsCredentials> {
    const accessKeyId = this.env['AWS_ACCESS_KEY_ID'];
    const secretAccessKey = this.env['AWS_SECRET_ACCESS_KEY'];
    if (!accessKeyId || !secretAccessKey) {
      throw new KvsError(
        'ERR_KVS_CREDENTIALS',
        'environment credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must both be set',
      );
    }
    const creds: AwsCredentials = { accessKeyId, secretAccessKey };
    const token = this.env['AWS_SESSION_TOKEN'];
    if (token) creds.sessionToken = token;
    const exp = this.env['AWS_CREDENTIAL_EXPIRATION'];
    if (exp) {
      const d = new Date(exp);
      if (Number.isNaN(d.getTime())) {
        throw new KvsError('ERR_KVS_CREDENTIALS', `environment credentials: AWS_CREDENTIAL_EXPIRATION "${exp}" is not a date`);
      }
      creds.expiration = d;
    }
    return creds;
  }
}
