// ELF checks of the arm64 tests; the script runner they share with the qemu test.
import { runScript } from '../support/run-script.js';

export { root, runScript, type ScriptRun } from '../support/run-script.js';

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
