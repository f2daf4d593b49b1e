// Signaling between the benchmark (which hosts the viewers) and a sender process: JSON lines on
// the sender's stdin and stdout, the same for every sender (kvs-edge, node-datachannel, werift,
// GStreamer). One sender process serves many viewers; each message names its viewer by `id`.
//   in:  {type:'offer', id, sdp} {type:'candidate', id, candidate, sdpMid, sdpMLineIndex}
//        {type:'close', id} {type:'quit'}
//   out: {type:'ready'} once the source runs, {type:'answer', id, sdp},
//        {type:'candidate', id, candidate, sdpMid, sdpMLineIndex} (candidate '' = end),
//        {type:'error', id?, message}
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { IceCandidateInit } from '../../ts/native/types.js';

export interface SignalIn {
  type: 'offer' | 'candidate' | 'close' | 'quit';
  id?: string;
  sdp?: string;
  candidate?: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
}

export interface SenderHandlers {
  offer(id: string, sdp: string): Promise<string>;
  candidate(id: string, c: IceCandidateInit): void;
  close(id: string): void;
  quit(): void;
}

/** Sender side: writes one JSON line to stdout. */
export function emit(msg: object): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

/** Sender side: reads the benchmark's messages from stdin until 'quit' or EOF. */
export function serveSignaling(h: SenderHandlers): void {
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    let msg: SignalIn;
    try {
      msg = JSON.parse(line) as SignalIn;
    } catch {
      emit({ type: 'error', message: `not JSON: ${line.slice(0, 80)}` });
      return;
    }
    const id = msg.id ?? '';
    try {
      if (msg.type === 'offer') {
        h.offer(id, msg.sdp ?? '').then(
          (sdp) => emit({ type: 'answer', id, sdp }),
          (err: Error) => emit({ type: 'error', id, message: `offer: ${err.message}` }),
        );
      } else if (msg.type === 'candidate') {
        h.candidate(id, { candidate: msg.candidate ?? '', sdpMid: msg.sdpMid ?? null, sdpMLineIndex: msg.sdpMLineIndex ?? null });
      } else if (msg.type === 'close') {
        h.close(id);
      } else if (msg.type === 'quit') {
        rl.close();
      } else {
        emit({ type: 'error', id, message: `unknown message type ${String((msg as { type?: unknown }).type)}` });
      }
    } catch (err) {
      emit({ type: 'error', id, message: `${msg.type}: ${(err as Error).message}` });
    }
  });
  rl.on('close', () => h.quit());
}

interface OutMsg {
  type: string;
  id?: string;
  sdp?: string;
  message?: string;
  candidate?: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
}

/** Benchmark side: a sender running as a child process. */
export class SenderProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly ready: Promise<void>;
  readonly errors: string[] = [];
  private stderrTail = '';
  private readonly answers = new Map<string, { resolve(sdp: string): void; reject(e: Error): void }>();
  private readonly candidateCbs = new Map<string, (c: IceCandidateInit) => void>();
  private exitCode: number | null | undefined;

  constructor(readonly name: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString()).slice(-(Number(process.env.BENCH_STDERR_TAIL) || 4000));
    });
    let readyResolve!: () => void;
    let readyReject!: (e: Error) => void;
    this.ready = new Promise((res, rej) => { readyResolve = res; readyReject = rej; });
    this.ready.catch(() => undefined);
    const exited = (code: number | null): void => {
      this.exitCode = code;
      const err = new Error(`${name} sender exited (${code}): ${this.stderrTail.trim().split('\n').slice(-5).join(' | ')}`);
      readyReject(err);
      for (const a of this.answers.values()) a.reject(err);
      this.answers.clear();
    };
    this.child.on('exit', exited);
    this.child.on('error', (e) => { this.errors.push(e.message); exited(null); });
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      let msg: OutMsg;
      try {
        msg = JSON.parse(line) as OutMsg;
      } catch {
        return; // a library's own log line on stdout
      }
      if (msg.type === 'ready') readyResolve();
      else if (msg.type === 'answer' && msg.id) {
        this.answers.get(msg.id)?.resolve(msg.sdp ?? '');
        this.answers.delete(msg.id);
      } else if (msg.type === 'candidate' && msg.id) {
        this.candidateCbs.get(msg.id)?.({ candidate: msg.candidate ?? '', sdpMid: msg.sdpMid ?? null, sdpMLineIndex: msg.sdpMLineIndex ?? null });
      } else if (msg.type === 'error') {
        this.errors.push(`${msg.id ?? ''}: ${msg.message ?? ''}`);
        const a = msg.id ? this.answers.get(msg.id) : undefined;
        if (a && msg.id) {
          a.reject(new Error(msg.message ?? 'sender error'));
          this.answers.delete(msg.id);
        }
      }
    });
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name} sender has no pid`);
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  private send(msg: object): void {
    if (this.running && this.child.stdin.writable) this.child.stdin.write(`${JSON.stringify(msg)}\n`);
  }

  offer(id: string, sdp: string, onCandidate: (c: IceCandidateInit) => void, timeoutMs = 20000): Promise<string> {
    this.candidateCbs.set(id, onCandidate);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { this.answers.delete(id); reject(new Error(`${this.name}: no answer in ${timeoutMs} ms`)); }, timeoutMs);
      this.answers.set(id, {
        resolve: (s) => { clearTimeout(timer); resolve(s); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.send({ type: 'offer', id, sdp });
    });
  }

  candidate(id: string, c: IceCandidateInit): void {
    this.send({ type: 'candidate', id, candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null });
  }

  close(id: string): void {
    this.candidateCbs.delete(id);
    this.send({ type: 'close', id });
  }

  /** Asks the sender to quit, then kills it if it has not after `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.running) return;
    const gone = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.send({ type: 'quit' });
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
  }

  stderr(): string {
    return this.stderrTail;
  }
}
