import { Clock } from './Clock.js';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** When the server stops accepting them; absent for long-term keys. */
  expiration?: Date;
}

export interface CredentialsProvider {
  /** Current credentials; `forceRefresh` after the server said they expired. */
  getCredentials(opts?: { forceRefresh?: boolean }): Promise<AwsCredentials>;
}

export interface RefreshOptions {
  /** Refresh this long before `expiration` (default 5 minutes). */
  refreshMarginMs?: number;
  clock?: Clock;
}

/**
 * Caches what `load()` returns until `refreshMarginMs` before its expiration, and shares one
 * load between concurrent callers, so that a refresh happens before any call could fail.
 */
export abstract class RefreshingCredentialsProvider implements CredentialsProvider {
  private cached: AwsCredentials | undefined;
  private loading: Promise<AwsCredentials> | undefined;
  protected readonly clock: Clock;
  private readonly refreshMarginMs: number;

  constructor(opts: RefreshOptions = {}) {
    this.clock = opts.clock ?? new Clock();
    this.refreshMarginMs = opts.refreshMarginMs ?? 5 * 60_000;
  }

  protected abstract load(): Promise<AwsCredentials>;

  async getCredentials(opts: { forceRefresh?: boolean } = {}): Promise<AwsCredentials> {
    if (!opts.forceRefresh && this.cached && !this.needsRefresh(this.cached)) return this.cached;
    if (!this.loading) {
      const previous = this.cached;
      this.loading = this.load()
        .then((c) => {
          this.cached = c;
          return c;
        })
        .catch((err: unknown) => {
          // A refresh that fails inside the margin keeps the old credentials while they are
          // still good (the next call tries again); a forced refresh means they are not.
          if (!opts.forceRefresh && previous?.expiration && previous.expiration.getTime() > this.clock.nowMs() + 5_000) {
            return previous;
          }
          throw err;
        })
        .finally(() => {
          this.loading = undefined;
        });
    }
    return this.loading;
  }

  private needsRefresh(c: AwsCredentials): boolean {
    if (!c.expiration) return false;
    return c.expiration.getTime() - this.refreshMarginMs <= this.clock.nowMs();
  }
}

/** Adapts a provider to the `credentials` option of the `@aws-sdk` clients. */
export function toAwsSdkCredentials(provider: CredentialsProvider): () => Promise<AwsCredentials> {
  return () => provider.getCredentials();
}
