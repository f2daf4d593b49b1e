// Fuzz target with planted faults, for the smoke test to show that the set-up finds what it
// is meant to find (it is not in fuzz/ts/run.sh's default list). FUZZ_CANARY picks the fault:
//   crash   an exception, only for inputs that start with "kvs!": four nested byte compares,
//           which a random-input loop would need ~4 billion tries for, so finding it within a
//           few hundred thousand inputs shows the coverage guidance at work;
//   reject  a promise rejection nobody handles, for inputs that start with "k";
//   hang    a promise that never settles (the deadline of withDeadline), for inputs that start
//           with "k";
//   loop    a synchronous endless loop (libFuzzer's -timeout; run with --sync), for inputs that
//           start with "k".
import { settle, throwIfUnhandledRejection, withDeadline } from './harness.js';

const mode = process.env['FUZZ_CANARY'] ?? 'crash';
const HANG_MS = Number(process.env['FUZZ_TS_TIMEOUT_MS'] ?? 10000);

function loopFuzz(data: Buffer): void {
  // eslint-disable-next-line no-empty
  if (data[0] === 0x6b) for (;;) {}
}

async function asyncFuzz(data: Buffer): Promise<void> {
  throwIfUnhandledRejection();
  await withDeadline(HANG_MS, async () => {
    if (data[0] === 0x6b) {
      if (mode === 'reject') void Promise.reject(new Error('canary: a rejection nobody handles'));
      if (mode === 'hang') await new Promise(() => undefined);
      if (data[1] === 0x76 && data[2] === 0x73 && data[3] === 0x21 && mode === 'crash') throw new Error('canary: planted crash');
    }
    await settle();
  });
  throwIfUnhandledRejection();
}

export const fuzz = mode === 'loop' ? loopFuzz : asyncFuzz;
