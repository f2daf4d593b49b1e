import { NativeError, type NativeErrorCode } from './types.js';

const CODES = new Set<NativeErrorCode>([
  'ERR_SDP_PARSE', 'ERR_SDP_UNSUPPORTED', 'ERR_INVALID_ARG', 'ERR_INVALID_STATE',
  'ERR_ICE', 'ERR_DTLS', 'ERR_MEDIA', 'ERR_CLOSED',
]);

// Native errors carry a `code`; usage errors are TypeErrors and pass through unchanged.
export function toNativeError(err: unknown): unknown {
  if (err instanceof TypeError || !(err instanceof Error)) return err;
  const code = (err as Error & { code?: unknown }).code;
  if (typeof code === 'string' && CODES.has(code as NativeErrorCode)) {
    return new NativeError(code as NativeErrorCode, err.message);
  }
  return err;
}
