// Runs one of the project's bash scripts in its own process group, bounded in time, and gives
// back its exit, output and duration (the arm64 and qemu tests assert on what the scripts printed).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ScriptRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  killed: boolean;
  seconds: number;
}

export function runScript(args: string[], timeoutMs: number, env: NodeJS.ProcessEnv = {}): Promise<ScriptRun> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn('bash', args, {
      cwd: root,
      detached: true, // own process group: the kill below reaches qemu and chroots too
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      killed = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, killed, seconds: (Date.now() - t0) / 1000 });
    });
  });
}
