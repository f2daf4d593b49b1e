// Placeholder for a command this build does not have yet: says so and exits 1, never pretends.
import { EXIT_FAILURE, EXIT_OK, type CliCommand } from './command.js';

export function unavailableCommand(name: string, summary: string, needs: string): CliCommand {
  const help = `kvs-edge ${name}: ${summary}\n\nNot available in this build (${needs}).\n`;
  return {
    name,
    summary: `${summary} (not available in this build)`,
    help,
    async run(argv, io) {
      if (argv.includes('--help') || argv.includes('-h')) {
        io.stdout.write(help);
        return EXIT_OK;
      }
      io.stderr.write(`kvs-edge ${name}: not available in this build (${needs})\n`);
      return EXIT_FAILURE;
    },
  };
}
