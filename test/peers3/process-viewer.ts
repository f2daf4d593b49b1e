// A viewer that runs as a child process (aiortc or GStreamer webrtcbin under Debian's
// /usr/bin/python3) and talks JSON lines: the offer, states, candidates and decoded frames come
// out on stdout; the answer, remote candidates and "close" go in on stdin.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { IceCandidateInit } from '../../ts/native/types.js';
import { FrameTimeoutError, type VideoReceiveStats, type Viewer } from '../peers/viewer.js';

/** Debian's interpreter: python3-aiortc and python3-gi are installed for it, not for a PATH python. */
export const DEBIAN_PYTHON = '/usr/bin/python3';

export function peerScript(name: string): string {
  return fileURLToPath(new URL(`./${name}`, import.meta.url));
}

/** What every viewer of these tests offers to the engine (test/peers Viewer, with any kind). */
export interface ViewerLike extends Omit<Viewer, 'kind'> {
  readonly kind: string;
}

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type Message = { [k: string]: Json };

function str(v: Json | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}
function num(v: Json | undefined): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

export class ProcessViewer implements ViewerLike {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly candidateCbs: ((c: IceCandidateInit) => void)[] = [];
  private readonly stateCbs: ((s: string) => void)[] = [];
  private readonly offer: Promise<string>;
  private readonly exited: Promise<number | null>;
  private frames = 0;
  private keyframes = 0;
  private width?: number;
  private height?: number;
  private firstFrameMs?: number;
  private firstIsKeyframe?: boolean;
  private startedAt = Date.now();
  private waiters: { n: number; resolve: () => void; fail: () => void }[] = [];
  /** First error the peer reported; a wait for frames ends at once when one arrives. */
  error?: string;
  private closed = false;
  private exitCode: number | null | undefined;
  /** Everything the peer reported besides frames, for failure diagnostics. */
  readonly log: string[] = [];
  private stderrTail = '';

  constructor(
    readonly kind: string,
    args: string[],
    readonly name = kind,
    /** Program and leading arguments; default Debian's python, unbuffered, writing no __pycache__ into the tree. */
    command: string[] = [DEBIAN_PYTHON, '-u', '-B'],
  ) {
    const [program, ...lead] = command;
    this.child = spawn(program ?? DEBIAN_PYTHON, [...lead, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdin.on('error', () => undefined); // a dead child must not crash the test
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (d: string) => {
      this.stderrTail = (this.stderrTail + d).slice(-4000);
    });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code) => {
        this.exitCode = code;
        this.log.push(`exit ${String(code)}`);
        resolve(code);
      });
      this.child.on('error', (err) => {
        this.log.push(`spawn error ${String(err)}`);
        resolve(null);
      });
    });
    let gotOffer: (sdp: string) => void = () => undefined;
    let failOffer: (e: Error) => void = () => undefined;
    this.offer = new Promise<string>((resolve, reject) => {
      gotOffer = resolve;
      failOffer = reject;
    });
    this.offer.catch(() => undefined); // a fixture that never offers must not be an unhandled rejection
    void this.exited.then(() => failOffer(new Error(`${name} exited before its offer: ${this.stderrTail}`)));
    const lines = createInterface({ input: this.child.stdout });
    lines.on('line', (line) => {
      let msg: Message;
      try {
        const parsed = JSON.parse(line) as Json;
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return;
        msg = parsed;
      } catch {
        this.log.push(`non-JSON: ${line.slice(0, 200)}`);
        return;
      }
      this.onMessage(msg, gotOffer);
    });
  }

  private onMessage(msg: Message, gotOffer: (sdp: string) => void): void {
    const waiter = this.replyWaiters.find((w) => w.type === msg['type']);
    if (waiter) {
      waiter.finish(msg);
      return;
    }
    switch (msg['type']) {
      case 'offer':
        gotOffer(str(msg['sdp']) ?? '');
        return;
      case 'candidate': {
        const c: IceCandidateInit = {
          candidate: str(msg['candidate']) ?? '',
          sdpMid: str(msg['sdpMid']) ?? null,
          sdpMLineIndex: num(msg['sdpMLineIndex']) ?? null,
        };
        for (const cb of this.candidateCbs) cb(c);
        return;
      }
      case 'state': {
        const s = str(msg['state']) ?? '';
        this.log.push(`state ${s}`);
        for (const cb of this.stateCbs) cb(s);
        return;
      }
      case 'frame': {
        if (this.frames === 0) {
          this.firstFrameMs = Date.now() - this.startedAt;
          this.firstIsKeyframe = msg['keyframe'] === true;
        }
        this.frames++;
        if (msg['keyframe'] === true) this.keyframes++;
        const w = num(msg['width']);
        const h = num(msg['height']);
        if (w !== undefined && h !== undefined) {
          this.width = w;
          this.height = h;
        }
        const ready = this.waiters.filter((x) => this.frames >= x.n);
        this.waiters = this.waiters.filter((x) => this.frames < x.n);
        for (const x of ready) x.resolve();
        return;
      }
      case 'error':
        this.error ??= str(msg['message']) ?? 'error';
        this.log.push(JSON.stringify(msg).slice(0, 500));
        for (const w of this.waiters.splice(0)) w.fail();
        return;
      case 'audio':
      case 'dc-open':
      case 'dc-message':
        this.received.push(msg);
        return;
      default:
        this.log.push(JSON.stringify(msg).slice(0, 500));
    }
  }

  /** Audio reports and data channel events, in arrival order (see the python viewers' headers). */
  readonly received: Message[] = [];

  /** Messages of `type` received so far. */
  receivedOf(type: string): Message[] {
    return this.received.filter((m) => m['type'] === type);
  }

  /** Polls (every 100 ms, at most timeoutMs) until `done` holds; returns whether it did. */
  async until(done: () => boolean, timeoutMs: number): Promise<boolean> {
    for (const end = Date.now() + timeoutMs; !done(); ) {
      if (Date.now() > end || this.exitCode !== undefined) return done();
      await new Promise((r) => setTimeout(r, 100));
    }
    return true;
  }

  /** Sends a command to the child (fixtures that understand more than answer/candidate/close). */
  request(msg: Message): void {
    this.send(msg);
  }

  /** Resolves with the next message of `type` from the child (or null when it exits first). */
  next(type: string, timeoutMs = 10_000): Promise<Message | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(null), timeoutMs);
      const finish = (m: Message | null): void => {
        clearTimeout(timer);
        this.replyWaiters = this.replyWaiters.filter((w) => w !== waiter);
        resolve(m);
      };
      const waiter = { type, finish };
      this.replyWaiters.push(waiter);
      void this.exited.then(() => finish(null));
    });
  }

  private replyWaiters: { type: string; finish: (m: Message | null) => void }[] = [];

  private send(msg: Message): void {
    if (this.exitCode !== undefined || this.child.stdin.destroyed) return;
    this.child.stdin.write(`${JSON.stringify(msg)}\n`);
  }

  async createOffer(): Promise<string> {
    this.startedAt = Date.now();
    return this.offer;
  }

  async setAnswer(sdp: string): Promise<void> {
    this.send({ type: 'answer', sdp });
  }

  async addCandidate(c: IceCandidateInit): Promise<void> {
    this.send({ type: 'candidate', candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null });
  }

  onCandidate(cb: (c: IceCandidateInit) => void): void {
    this.candidateCbs.push(cb);
  }

  onState(cb: (s: string) => void): void {
    this.stateCbs.push(cb);
  }

  async stats(): Promise<VideoReceiveStats> {
    const s: VideoReceiveStats = { frames: this.frames, keyframes: this.keyframes, codec: 'video/H264' };
    if (this.width !== undefined) s.width = this.width;
    if (this.height !== undefined) s.height = this.height;
    if (this.firstFrameMs !== undefined) s.firstFrameMs = this.firstFrameMs;
    if (this.firstIsKeyframe !== undefined) s.firstFrameIsKeyframe = this.firstIsKeyframe;
    return s;
  }

  async waitForFrames(n: number, timeoutMs: number): Promise<VideoReceiveStats> {
    if (this.frames < n) {
      let timer: NodeJS.Timeout | undefined;
      const reached = new Promise<boolean>((resolve) => {
        if (this.error !== undefined) resolve(false);
        this.waiters.push({ n, resolve: () => resolve(true), fail: () => resolve(false) });
        timer = setTimeout(() => resolve(false), timeoutMs);
        void this.exited.then(() => resolve(false));
      });
      const ok = await reached;
      clearTimeout(timer);
      if (!ok) {
        const e = new FrameTimeoutError(this.name, n, timeoutMs, await this.stats());
        if (this.error !== undefined) e.message += `; the peer reported: ${this.error}`;
        throw e;
      }
    }
    return this.stats();
  }

  /** Sends a signal to the peer process (SIGSTOP/SIGCONT to stall and resume it). */
  signal(sig: NodeJS.Signals): boolean {
    return this.exitCode === undefined && this.child.kill(sig);
  }

  /** The peer's last stderr output (Python tracebacks, GStreamer warnings). */
  stderr(): string {
    return this.stderrTail;
  }

  /** Asks the peer to close; kills it if it has not exited after graceMs. */
  async close(graceMs = 3000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.signal('SIGCONT'); // a stalled peer could not read the close request
    for (const w of this.waiters.splice(0)) w.resolve();
    this.send({ type: 'close' });
    this.child.stdin.end();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), graceMs);
    });
    const r = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (r === 'timeout' && this.exitCode === undefined) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}
