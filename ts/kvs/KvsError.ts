/**
 * The one error type of ts/kvs and ts/local. `code` is stable and meant for callers to compare;
 * the message names what failed. `awsCode` carries the AWS error type when one was received
 * (e.g. InvalidSignatureException), `statusCode` the HTTP status.
 */
export type KvsErrorCode =
  | 'ERR_KVS_AUTH' // credentials rejected (wrong secret, unknown key): retrying will not help
  | 'ERR_KVS_CREDENTIALS' // credentials could not be loaded (missing env, profile, IoT endpoint failure)
  | 'ERR_KVS_CHANNEL_NOT_FOUND'
  | 'ERR_KVS_CLIENT_LIMIT' // the channel already has its 10 viewers
  | 'ERR_KVS_CONNECT' // the signaling WebSocket could not be opened (network, server error)
  | 'ERR_KVS_NOT_OPEN' // a message was sent while the signaling client is not connected
  | 'ERR_KVS_BAD_ARGUMENT'
  | 'ERR_KVS_CONTROL_PLANE' // a control-plane call failed
  | 'ERR_KVS_STATUS_RESPONSE' // the signaling service answered a message with an error
  | 'ERR_KVS_CLOSED'
  | 'ERR_LOCAL_SERVICE';

export class KvsError extends Error {
  readonly code: KvsErrorCode;
  readonly awsCode: string | undefined;
  readonly statusCode: number | undefined;

  constructor(
    code: KvsErrorCode,
    message: string,
    opts: { awsCode?: string; statusCode?: number; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'KvsError';
    this.code = code;
    this.awsCode = opts.awsCode;
    this.statusCode = opts.statusCode;
  }
}

/** AWS error types that mean "these credentials will never work": do not retry. */
export const AUTH_FAILURE_TYPES: ReadonlySet<string> = new Set([
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'MissingAuthenticationTokenException',
  'AccessDeniedException',
]);

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Wrong arguments from the caller: a TypeError (the project's rule for usage errors) with a code. */
export class KvsUsageError extends TypeError {
  readonly code = 'ERR_KVS_BAD_ARGUMENT' as const;

  constructor(message: string) {
    super(message);
    this.name = 'KvsUsageError';
  }
}
