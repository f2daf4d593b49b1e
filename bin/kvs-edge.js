#!/usr/bin/env node
// kvs-edge command line. The implementation is the compiled TypeScript in dist/cli.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('kvs-edge: this copy is not built (dist/cli/main.js is missing); run `npm run build:ts`\n');
  process.exit(1);
}
// `run` is the long-lived process of a small board: V8 in lite mode (no optimizing compilers,
// smaller heap reservations) holds about 18 MB less for a control layer whose hot paths are
// native (bench: `npm run bench -- memory`). V8 reads such flags only when it starts, so the
// process re-executes itself once with them (execve: the same pid, so systemd's main process,
// NOTIFY_SOCKET and open descriptors stay). Nodes without process.execve (before 22.15) run as is.
const V8_FLAGS = ['--lite-mode'];
if (process.argv[2] === 'run' && typeof process.execve === 'function' && !V8_FLAGS.every((f) => process.execArgv.includes(f))) {
  process.execve(process.execPath, [process.execPath, ...V8_FLAGS, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], process.env);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
