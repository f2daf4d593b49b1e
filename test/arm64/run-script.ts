// Runs one of the project's bash scripts in its own process group, bounded in time, and gives
// back its exit, output and duration (the arm64 tests assert on what the scripts printed).
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

/** e_machine of an ELF file's header (183 = AArch64, 62 = x86-64). */
export function elfMachine(bytes: Buffer): number {
  if (bytes.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  return bytes.readUInt16LE(18);
}

/** The highest version of each versioned prefix (GLIBC, GLIBCXX, OPENSSL_, ...) an ELF file needs, from readelf's .gnu.version_r. */
export async function elfVersionNeeds(file: string): Promise<Map<string, number[]>> {
  const r = await runScript(['-c', 'LC_ALL=C readelf -V -W "$1"', 'readelf', file], 60_000);
  if (r.code !== 0) throw new Error(`readelf ${file}: ${r.stderr}`);
  const max = new Map<string, number[]>();
  const section = r.stdout.slice(r.stdout.indexOf(".gnu.version_r'"));
  for (const m of section.matchAll(/Name: ([A-Z]+_?)_?([0-9]+(?:\.[0-9]+)*)\b/g)) {
    const prefix = m[1]!.replace(/_$/, '');
    const v = m[2]!.split('.').map(Number);
    const cur = max.get(prefix);
    if (!cur || compareVersions(v, cur) > 0) max.set(prefix, v);
  }
  return max;
}

export function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}
