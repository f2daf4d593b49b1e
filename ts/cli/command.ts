// The shape of a CLI subcommand and the errors that map to exit codes.
export interface CliIO {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  env: NodeJS.ProcessEnv;
}

export interface CliCommand {
  name: string;
  /** One line for the usage (the commands kvs-edge has carry theirs in ts/cli/main.ts). */
  summary?: string;
  /** Full help text printed by `kvs-edge <name> --help`. */
  help: string;
  /** Returns the exit code: 0 ok, 1 runtime failure, 2 usage or configuration error. */
  run(argv: string[], io: CliIO): Promise<number>;
}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** Wrong arguments: printed without a stack, exit code 2. */
export class UsageError extends Error {
  readonly code = 'ERR_USAGE';
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
