// The JSON-lines protocol of the peer fixtures that run in child processes (engine camera,
// engine viewer, werift viewer): one message per line on stdout, commands one per line on stdin.
import { createInterface } from 'node:readline';
import type { PeerConnection } from '../../ts/native/index.js';

/** A command from the test. */
export interface In {
  type?: string;
  sdp?: string;
  candidate?: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
}

export function out(msg: object): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

/** What a fixture does for each command type but 'close'. */
export type Handlers = Record<string, (msg: In) => unknown>;

/**
 * Reads commands from stdin and runs the handler of each command's type; {type:'close'}, and the
 * end of stdin (the test went away), run `shutdown`. A line that is not JSON, a type with no
 * handler, or a handler that throws is answered with {type:'error'}.
 */
export function serveCommands(handlers: Handlers, shutdown: () => Promise<void>): void {
  const run = async (msg: In): Promise<void> => {
    if (msg.type === 'close') return shutdown();
    const handler = msg.type !== undefined && Object.hasOwn(handlers, msg.type) ? handlers[msg.type] : undefined;
    if (!handler) {
      out({ type: 'error', message: `unknown message ${String(msg.type)}` });
      return;
    }
    await handler(msg);
  };
  const lines = createInterface({ input: process.stdin });
  lines.on('close', () => void shutdown());
  lines.on('line', (line) => {
    let msg: In;
    try {
      msg = JSON.parse(line) as In;
    } catch {
      out({ type: 'error', message: 'bad json line' });
      return;
    }
    void run(msg).catch((e: unknown) => out({ type: 'error', message: `${msg.type ?? '?'}: ${String(e)}` }));
  });
}

/**
 * A fixture's one way out, for its {type:'close'} command and for the end of stdin: `release` runs
 * once, then {type:'closed'} is written and the process exits, `exitDelayMs` later (time for the
 * engine's native threads to wind down) or at once. Later calls do nothing.
 */
export function shutdownOnce(release: () => unknown, exitDelayMs = 0): () => Promise<void> {
  let closing = false;
  return async () => {
    if (closing) return;
    closing = true;
    await release();
    out({ type: 'closed' });
    if (exitDelayMs > 0) setTimeout(() => process.exit(0), exitDelayMs);
    else process.exit(0);
  };
}

/** The engine peer's local candidates, connection states and errors, as fixture messages. */
export function reportEngineEvents(pc: PeerConnection): void {
  pc.on('candidate', (c) => out({ type: 'candidate', candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null }));
  pc.on('state', (s) => out({ type: 'state', state: s }));
  pc.on('error', (e) => out({ type: 'error', message: String(e) }));
}
