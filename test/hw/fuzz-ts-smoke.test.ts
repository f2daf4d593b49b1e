// A short Jazzer.js run (coverage-guided, libFuzzer) of each TypeScript fuzz target in every
// `npm test`: the MQTT command path, the signaling message parser, the local signaling router
// and the configuration loader. The long run (>= 1,000,000 inputs per target) is
// `npm run fuzz:ts`. The canary target's planted faults show that a crash, an unhandled
// rejection and a hang (asynchronous and synchronous) are each reported as a failure, and that
// the fuzzer is guided by coverage (it finds an input that four nested byte compares guard).
// Skipped, with the reason, when clang / libFuzzer is not installed.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const OUT = join(root, 'build', 'fuzz-ts-smoke');
const RUNS = 5000;
const TARGETS = ['mqtt-command', 'signaling-message', 'signaling-router', 'config-load'];

function run(args: string[], env: Record<string, string> = {}, out = OUT): { status: number | null; out: string } {
  const r = spawnSync('bash', [join(root, 'fuzz', 'ts', 'run.sh'), ...args], {
    cwd: root,
    encoding: 'utf8',
    // Each target's run is bounded by FUZZ_TS_MAX_SECONDS, well inside this timeout, so that
    // no fuzzer process outlives a killed run.sh.
    timeout: 1_500_000,
    killSignal: 'SIGKILL',
    env: { ...process.env, FUZZ_TS_OUT: out, FUZZ_TS_MAX_SECONDS: '240', ...env },
  });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

const r = run([String(RUNS)]);
const skip = /^SKIP: (.*)$/m.exec(r.out);
if (r.status === 77 && skip) {
  t.pass(`skipped: ${skip[1]}`, { skip: skip[1] });
} else {
  t.test('every target runs its inputs and finds nothing', async (t) => {
    t.equal(r.status, 0, 'no target found a crash, a hang or an unhandled rejection');
    if (r.status !== 0) t.comment(r.out.slice(-4000));
    for (const target of TARGETS) {
      const m = new RegExp(`== ${target}: \\d+ runs\\nDone (\\d+) runs`).exec(r.out);
      t.equal(Number(m?.[1]), RUNS, `${target} ran ${RUNS} inputs`);
      const crashes = readdirSync(join(OUT, target)).filter((f) => /^(crash|timeout|oom)-/.test(f));
      t.same(crashes, [], `${target} left no crash input`);
    }
  });

  const canaries: Array<{ mode: string; expect: RegExp; runs: number }> = [
    { mode: 'crash', expect: /Uncaught Exception: Error: canary: planted crash/, runs: 1_000_000 },
    { mode: 'reject', expect: /FuzzFailure: unhandled rejection: Error: canary: a rejection nobody handles/, runs: 100_000 },
    { mode: 'hang', expect: /FuzzFailure: hang: the input did not finish within 1000 ms/, runs: 100_000 },
    { mode: 'loop', expect: /libFuzzer: timeout after \d+ seconds/, runs: 100_000 },
  ];
  for (const c of canaries) {
    t.test(`a planted fault is found: ${c.mode}`, async (t) => {
      const out = join(OUT, `canary-${c.mode}`);
      rmSync(out, { recursive: true, force: true });
      const cr = run([String(c.runs), 'canary'], { FUZZ_CANARY: c.mode, FUZZ_TS_TIMEOUT_MS: '1000' }, out);
      t.equal(cr.status, 1, 'the run fails');
      t.match(cr.out, /canary FAILED/, 'the failing target is named');
      t.match(cr.out, c.expect, 'the fault is reported');
      const saved = readdirSync(join(out, 'canary')).filter((f) => /^(crash|timeout)-/.test(f));
      t.ok(saved.length > 0, `the input is saved (${saved.join(', ')})`);
      if (c.mode === 'crash') {
        const m = /stat::number_of_executed_units: (\d+)/.exec(cr.out);
        t.ok(m && Number(m[1]) < c.runs, `found after ${m?.[1]} inputs, before the ${c.runs} asked`);
      }
    });
  }
}
