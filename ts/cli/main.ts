// Entry of the kvs-edge CLI: a table of subcommands, help, and the mapping of errors to exit
// codes (0 ok, 1 runtime failure, 2 usage or configuration error). User errors print one
// message, never a stack; KVS_EDGE_DEBUG=1 adds stacks for unexpected ones.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/errors.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, type CliCommand, type CliIO } from './command.js';
import { configCommand } from './config.js';
import { demoCommand } from './demo.js';
import { viewCommand } from './view.js';
import { hilCommand } from './hil.js';
import { localCommand } from '../local/localCommand.js';
import { probeCommand } from './probe.js';
import { runCommand } from './run.js';
import { sendCommand } from './send.js';

const commands = new Map<string, CliCommand>();

/** Adds or replaces a subcommand (the runtime registers `run`, `local`, `view`, `demo` here once they exist). */
export function registerCommand(cmd: CliCommand): void {
  commands.set(cmd.name, cmd);
}

export function listCommands(): CliCommand[] {
  return [...commands.values()];
}

registerCommand(runCommand);
registerCommand(localCommand);
registerCommand(viewCommand);
registerCommand(demoCommand);
registerCommand(probeCommand);
registerCommand(configCommand);
registerCommand(sendCommand);
registerCommand(hilCommand);

export function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function usage(): string {
  const width = Math.max(...listCommands().map((c) => c.name.length));
  const lines = listCommands()
    .slice()
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `Usage: kvs-edge <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun 'kvs-edge <command> --help' for a command's options.\nExit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.\n`;
}

const defaultIO: CliIO = { stdout: process.stdout, stderr: process.stderr, env: process.env };

export async function main(argv: string[], io: CliIO = defaultIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    io.stderr.write(usage());
    return EXIT_USAGE;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    const topic = rest[0];
    const cmd = topic === undefined ? undefined : commands.get(topic);
    io.stdout.write(cmd ? cmd.help : usage());
    return topic === undefined || cmd ? EXIT_OK : EXIT_USAGE;
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write(`kvs-edge ${version()}\n`);
    return EXIT_OK;
  }
  const cmd = commands.get(name);
  if (!cmd) {
    io.stderr.write(`kvs-edge: unknown command "${name}"\n\n${usage()}`);
    return EXIT_USAGE;
  }
  try {
    return await cmd.run(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`kvs-edge ${name}: ${e.message}\nRun 'kvs-edge ${name} --help' for usage.\n`);
      return EXIT_USAGE;
    }
    if (e instanceof ConfigError) {
      io.stderr.write(`kvs-edge ${name}: ${e.message}\n`);
      return EXIT_USAGE;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') {
      io.stderr.write(`kvs-edge ${name}: ${code}: ${err.message}\n`);
    } else {
      io.stderr.write(`kvs-edge ${name}: internal error: ${err.message}\n`);
      if (io.env['KVS_EDGE_DEBUG'] === '1' && err.stack) io.stderr.write(err.stack + '\n');
    }
    return EXIT_FAILURE;
  }
}
