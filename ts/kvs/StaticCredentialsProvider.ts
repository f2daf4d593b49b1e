import { KvsUsageError } from './KvsError.js';
import type { AwsCredentials, CredentialsProvider } from './Credentials.js';

/** Fixed keys, e.g. from the config file. */
export class StaticCredentialsProvider implements CredentialsProvider {
  private readonly creds: AwsCredentials;

  constructor(creds: AwsCredentials) {
    if (!creds.accessKeyId || !creds.secretAccessKey) {
      throw new KvsUsageError('static credentials need accessKeyId and secretAccessKey');
    }
    this.creds = { ...creds };
  }

  async getCredentials(): Promise<AwsCredentials> {
    return this.creds;
  }
}
