// The JSON-lines protocol of the peer fixtures that run in child processes (engine camera,
// engine viewer, werift viewer): one message per line on stdout, commands one per line on stdin.
import { createInterface } from 'node:readline';

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

/**
 * Reads commands from stdin and runs `handle` on each; a line that is not JSON, or a command that
 * throws, is answered with {type:'error'}. `onClose` runs when stdin ends (the test went away).
 */
export function serveCommands(handle: (msg: In) => Promise<void>, onClose: () => void): void {
  const lines = createInterface({ input: process.stdin });
  lines.on('close', onClose);
  lines.on('line', (line) => {
    let msg: In;
    try {
      msg = JSON.parse(line) as In;
    } catch {
      out({ type: 'error', message: 'bad json line' });
      return;
    }
    void handle(msg).catch((e: unknown) => out({ type: 'error', message: `${msg.type ?? '?'}: ${String(e)}` }));
  });
}
