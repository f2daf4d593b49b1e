// The error a remote command answers with: a stable code and a message a person can act on.
export class RemoteError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'RemoteError';
    this.code = code;
  }
}

export interface WireError {
  code: string;
  message: string;
}

export function toWireError(e: unknown): WireError {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return { code: typeof code === 'string' && code ? code : 'ERR_INTERNAL', message: e.message };
  }
  return { code: 'ERR_INTERNAL', message: String(e) };
}
