#!/usr/bin/env node
// kvs-edge command line. The implementation is the compiled TypeScript in dist/cli.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('kvs-edge: this copy is not built (dist/cli/main.js is missing); run `npm run build:ts`\n');
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
