// Entry of the kvs-edge CLI: a table of subcommands, help, and the mapping of errors to exit
// codes (0 ok, 1 runtime failure, 2 usage or configuration error). User errors print one
// message, never a stack; KVS_EDGE_DEBUG=1 adds stacks for unexpected ones.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/errors.js';
import { redactText } from '../log/redact.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, type CliCommand, type CliIO } from './command.js';

/** A subcommand as the usage lists it; its module is imported only when it runs (or shows its help). */
interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<CliCommand>;
}

const commands = new Map<string, CommandEntry>();

/** Adds or replaces a subcommand. */
export function registerCommand(cmd: CliCommand): void {
  commands.set(cmd.name, { name: cmd.name, summary: cmd.summary ?? '', load: () => Promise.resolve(cmd) });
}

export function listCommands(): CommandEntry[] {
  return [...commands.values()];
}

// Only the module of the command that runs is loaded: `run` on a board never holds the local
// service, the viewer, the demo's web server or the HIL scenario.
const lazy = (name: string, summary: string, load: () => Promise<CliCommand>): void => void commands.set(name, { name, summary, load });
lazy('run', 'run the device: serve viewers on the KVS channel, take MQTT commands', async () => (await import('./run.js')).runCommand);
lazy('local', 'run the local KVS-compatible service on loopback', async () => (await import('../local/localCommand.js')).localCommand);
lazy('view', 'connect to a channel as a viewer and report what arrives', async () => (await import('./view.js')).viewCommand);
lazy('demo', 'npm start: local KVS service, MQTT broker, device and a browser viewer on loopback', async () => (await import('./demo.js')).demoCommand);
lazy('probe', 'detect the board, try its encoders and cameras, print JSON', async () => (await import('./probe.js')).probeCommand);
lazy('config', 'validate a configuration file or export its JSON schema', async () => (await import('./config.js')).configCommand);
lazy('send', 'send a remote command to a device over MQTT and print the answer', async () => (await import('./send.js')).sendCommand);
lazy('hil', 'run the HIL scenario against a camera (MQTT + native viewers), TAP and JSON report', async () => (await import('./hil.js')).hilCommand);

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
    const entry = topic === undefined ? undefined : commands.get(topic);
    const cmd = entry ? await entry.load() : undefined;
    io.stdout.write(cmd ? cmd.help : usage());
    return topic === undefined || cmd ? EXIT_OK : EXIT_USAGE;
  }
  if (name === '--version' || name === '-v') {
    io.stdout.write(`kvs-edge ${version()}\n`);
    return EXIT_OK;
  }
  const entry = commands.get(name);
  if (!entry) {
    io.stderr.write(`kvs-edge: unknown command "${name}"\n\n${usage()}`);
    return EXIT_USAGE;
  }
  try {
    return await (await entry.load()).run(rest, io);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`kvs-edge ${name}: ${redactText(e.message)}\nRun 'kvs-edge ${name} --help' for usage.\n`);
      return EXIT_USAGE;
    }
    if (e instanceof ConfigError) {
      io.stderr.write(`kvs-edge ${name}: ${redactText(e.message)}\n`);
      return EXIT_USAGE;
    }
    const err = e instanceof Error ? e : new Error(String(e));
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string') {
      io.stderr.write(`kvs-edge ${name}: ${code}: ${redactText(err.message)}\n`);
    } else {
      io.stderr.write(`kvs-edge ${name}: internal error: ${redactText(err.message)}\n`);
      if (io.env['KVS_EDGE_DEBUG'] === '1' && err.stack) io.stderr.write(err.stack + '\n');
    }
    return EXIT_FAILURE;
  }
}
