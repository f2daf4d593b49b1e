// The engine, the addon and the C++ unit tests cross-built for arm64 against a Debian bookworm
// sysroot (scripts/cross/build.sh), and the unit tests run as arm64 code under qemu-user
// (scripts/cross/ctest.sh). The packages (test/arm64/packages.test.ts) ship this addon.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { elfMachine, root, runScript } from './run-script.js';

// Longer than the suite's --timeout=600 per file: a cold cross build on a loaded 2-core machine takes minutes.
t.setTimeout(1_800_000);

const build = await runScript(['scripts/cross/build.sh', 'arm64', 'bookworm'], 900_000);
t.comment(`cross build: ${build.seconds.toFixed(0)} s`);
if (build.code !== 0) t.comment(build.stdout + build.stderr.slice(-4000));
t.equal(build.code, 0, 'the arm64 cross build succeeded');

const out = join(root, 'build-cross', 'bookworm-arm64');
t.equal(elfMachine(readFileSync(join(out, 'Release', 'kvs_edge.node'))), 183, 'the addon is AArch64 code');
for (const exe of ['media_tests', 'rtc_tests'])
  t.equal(elfMachine(readFileSync(join(out, 'cpp', 'test', exe))), 183, `${exe} is AArch64 code`);

const ctest = await runScript(['scripts/cross/ctest.sh', 'arm64', 'bookworm'], 900_000);
t.comment(`C++ tests under qemu-user: ${ctest.seconds.toFixed(0)} s`);
if (ctest.code !== 0) t.comment(ctest.stdout.slice(-6000) + ctest.stderr);
t.equal(ctest.code, 0, 'the C++ tests passed under emulation');
t.match(ctest.stdout, /Test #\d+: media_tests \.+ +Passed/, 'media_tests passed as arm64');
t.match(ctest.stdout, /Test #\d+: rtc_tests \.+ +Passed/, 'rtc_tests passed as arm64');
t.match(ctest.stdout, /100% tests passed, 0 tests failed out of 2/, 'both test programs ran');
t.match(
  ctest.stdout,
  /excluded under qemu-user: CommandSink\.BadCommandsAreNamed \(qemu runs vfork as fork/,
  'the one test excluded under emulation is named with the reason',
);
