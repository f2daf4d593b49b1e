import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KvsError } from './KvsError.js';
import { RefreshingCredentialsProvider, type AwsCredentials, type RefreshOptions } from './Credentials.js';

export interface ProfileOptions extends RefreshOptions {
  /** Default: AWS_PROFILE, else "default". */
  profile?: string;
  /** Default: AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials. */
  credentialsFile?: string;
  /** Default: AWS_CONFIG_FILE, else ~/.aws/config. */
  configFile?: string;
  /** How often to re-read the files when the keys carry no expiration (default: never). */
  reloadEveryMs?: number;
}

type IniSections = Map<string, Map<string, string>>;

/** Parses the shared config/credentials INI format: `[section]`, `key = value`, `#`/`;` comments. */
export function parseIni(text: string): IniSections {
  const out: IniSections = new Map();
  let current: Map<string, string> | undefined;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[([^\]]+)\]$/.exec(line);
    if (section?.[1] !== undefined) {
      current = new Map();
      out.set(section[1].trim(), current);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0 || !current) continue;
    current.set(line.slice(0, eq).trim().toLowerCase(), line.slice(eq + 1).trim());
  }
  return out;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** A profile of the shared AWS files (~/.aws/credentials, then ~/.aws/config). */
export class ProfileCredentialsProvider extends RefreshingCredentialsProvider {
  readonly profile: string;
  private readonly credentialsFile: string;
  private readonly configFile: string;
  private readonly reloadEveryMs: number | undefined;

  constructor(opts: ProfileOptions = {}) {
    super(opts);
    this.profile = opts.profile ?? process.env['AWS_PROFILE'] ?? 'default';
    this.credentialsFile =
      opts.credentialsFile ?? process.env['AWS_SHARED_CREDENTIALS_FILE'] ?? join(homedir(), '.aws', 'credentials');
    this.configFile = opts.configFile ?? process.env['AWS_CONFIG_FILE'] ?? join(homedir(), '.aws', 'config');
    this.reloadEveryMs = opts.reloadEveryMs;
  }

  protected async load(): Promise<AwsCredentials> {
    const [credText, configText] = await Promise.all([
      readIfExists(this.credentialsFile),
      readIfExists(this.configFile),
    ]);
    const fromCreds = credText === undefined ? undefined : parseIni(credText).get(this.profile);
    const configSections = configText === undefined ? undefined : parseIni(configText);
    const fromConfig =
      configSections?.get(this.profile === 'default' ? 'default' : `profile ${this.profile}`) ??
      configSections?.get(this.profile);
    const pick = (key: string): string | undefined => fromCreds?.get(key) ?? fromConfig?.get(key);
    const accessKeyId = pick('aws_access_key_id');
    const secretAccessKey = pick('aws_secret_access_key');
    if (!accessKeyId || !secretAccessKey) {
      throw new KvsError(
        'ERR_KVS_CREDENTIALS',
        `profile "${this.profile}" has no aws_access_key_id/aws_secret_access_key in ${this.credentialsFile} or ${this.configFile}`,
      );
    }
    const creds: AwsCredentials = { accessKeyId, secretAccessKey };
    const token = pick('aws_session_token');
    if (token) creds.sessionToken = token;
    const exp = pick('aws_expiration') ?? pick('expiration');
    if (exp && !Number.isNaN(Date.parse(exp))) creds.expiration = new Date(exp);
    else if (this.reloadEveryMs !== undefined) creds.expiration = new Date(this.clock.nowMs() + this.reloadEveryMs);
    return creds;
  }
}
