// kvs-edge config validate FILE | config schema [--out FILE]
import { loadConfigFile, redactConfig } from '../config/load.js';
import { configJsonSchema } from '../config/schema.js';
import { findBoard, loadBoardProfiles } from '../config/boards.js';
import { writeFileAtomic } from '../config/atomic-write.js';
import { parse, str } from './args.js';
import { EXIT_OK, UsageError, type CliCommand, type CliIO } from './command.js';

const help = `Usage:
  kvs-edge config validate FILE [--print]
  kvs-edge config schema [--out FILE]

validate  Reads FILE (JSON, or YAML for .yaml/.yml), applies the environment
          overrides (KVS_EDGE_DEVICE_ID, KVS_EDGE_MQTT_URL, ...), and checks
          every field. Each problem names the field, the value and what is
          allowed. --print shows the effective configuration (secrets redacted).
schema    Writes the JSON schema of the configuration (for editors: put
          "$schema": "./kvs-edge.schema.json" in your config) to FILE, or to
          stdout without --out.

Exit codes: 0 valid / written, 1 could not write, 2 invalid configuration or usage error.
`;

async function validate(argv: string[], io: CliIO): Promise<number> {
  const p = parse(argv, { print: { type: 'boolean' } });
  if (p.values['help']) {
    io.stdout.write(help);
    return EXIT_OK;
  }
  const [file, extra] = p.positionals;
  if (!file) throw new UsageError('config validate needs a FILE');
  if (extra !== undefined) throw new UsageError(`config validate takes one FILE, got also "${extra}"`);
  const { config } = loadConfigFile(file, io.env);
  // The schema only knows the shape of a board id; the profiles know which exist.
  if (config.board !== 'auto') findBoard(loadBoardProfiles(), config.board);
  if (p.values['print']) io.stdout.write(JSON.stringify(redactConfig(config), null, 2) + '\n');
  else {
    io.stdout.write(
      `${file}: valid (device ${config.deviceId}, channel ${config.channel.name}, encoder ${config.video.encoder}, ` +
        `${config.video.width}x${config.video.height}@${config.video.fps}, mqtt ${config.mqtt.enabled ? config.mqtt.url : 'off'})\n`,
    );
  }
  return EXIT_OK;
}

async function schema(argv: string[], io: CliIO): Promise<number> {
  const p = parse(argv, { out: { type: 'string', short: 'o' } });
  if (p.values['help']) {
    io.stdout.write(help);
    return EXIT_OK;
  }
  if (p.positionals.length) throw new UsageError(`config schema takes no arguments, got "${p.positionals[0]}" (use --out FILE)`);
  const text = JSON.stringify(configJsonSchema(), null, 2) + '\n';
  const out = str(p, 'out');
  if (out) {
    try {
      writeFileAtomic(out, text, 0o644);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw Object.assign(new Error(`cannot write ${out}: ${err.code ?? err.message}`), { code: 'ERR_WRITE' });
    }
    io.stderr.write(`wrote ${out}\n`);
  } else io.stdout.write(text);
  return EXIT_OK;
}

export const configCommand: CliCommand = {
  name: 'config',
  help,
  async run(argv, io) {
    const [sub, ...rest] = argv;
    if (sub === undefined) throw new UsageError('config needs a subcommand: validate or schema');
    if (sub === '--help' || sub === '-h' || sub === 'help') {
      io.stdout.write(help);
      return EXIT_OK;
    }
    if (sub === 'validate') return validate(rest, io);
    if (sub === 'schema') return schema(rest, io);
    throw new UsageError(`unknown config subcommand "${sub}"; use validate or schema`);
  },
};

