// kvs-edge send <device> <command> [json]: one remote command through the fleet client.
import { readFileSync } from 'node:fs';
import { FleetClient, type FleetClientOptions } from '../remote/fleet-client.js';
import { COMMAND_NAMES, isCommandName, parseArgs as parseCommandArgs } from '../remote/commands.js';
import { RemoteError } from '../remote/remote-error.js';
import { parse, str } from './args.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type CliCommand } from './command.js';

const help = `Usage: kvs-edge send <device> <command> [json] [options]

Sends a command to a device over MQTT and prints its answer (JSON) on stdout.

  <device>   the device id (its topics are under kvs-edge/<device>)
  <command>  ${COMMAND_NAMES.join(', ')}
  [json]     the arguments, e.g. '{"kbps": 800}' for set-bitrate

Options:
  --url URL             broker (default: $KVS_EDGE_MQTT_URL or mqtt://127.0.0.1:1883)
  --mqtt-version V      5 (default) or 3.1.1
  --prefix TEMPLATE     topic prefix (default: kvs-edge/{deviceId})
  --timeout SECONDS     how long to wait for the answer (default 10)
  --request-id ID       send with this requestId (a retry gets the first answer)
  --username U, --password P, --ca FILE, --cert FILE, --key FILE
  -h, --help            this help

Exit codes: 0 the device accepted the command, 1 it rejected it, did not answer
in time, or the broker was unreachable, 2 usage error (bad command or arguments).
`;

function readPem(file: string, option: string): Buffer {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new UsageError(`--${option} ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
}

export const sendCommand: CliCommand = {
  name: 'send',
  help,
  async run(argv, io) {
    const p = parse(argv, {
      url: { type: 'string' },
      'mqtt-version': { type: 'string' },
      prefix: { type: 'string' },
      timeout: { type: 'string' },
      'request-id': { type: 'string' },
      username: { type: 'string' },
      password: { type: 'string' },
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
    });
    if (p.values['help']) {
      io.stdout.write(help);
      return EXIT_OK;
    }
    const [device, command, json, extra] = p.positionals;
    if (!device || !command) throw new UsageError('send needs <device> and <command>');
    if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}" (put all arguments in one JSON object)`);
    if (!isCommandName(command)) throw new UsageError(`unknown command "${command}"; known: ${COMMAND_NAMES.join(', ')}`);
    let args: Record<string, unknown> = {};
    if (json !== undefined) {
      let v: unknown;
      try {
        v = JSON.parse(json) as unknown;
      } catch (e) {
        throw new UsageError(`arguments are not valid JSON: ${(e as Error).message}`);
      }
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new UsageError('arguments must be a JSON object, e.g. \'{"kbps": 800}\'');
      args = v as Record<string, unknown>;
    }
    try {
      parseCommandArgs(command, args);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const version = str(p, 'mqtt-version') ?? '5';
    if (version !== '5' && version !== '3.1.1') throw new UsageError(`--mqtt-version must be 5 or 3.1.1, got "${version}"`);
    const timeoutText = str(p, 'timeout') ?? '10';
    const timeout = Number(timeoutText);
    if (!Number.isFinite(timeout) || timeout <= 0 || timeout > 3600) throw new UsageError(`--timeout must be seconds between 0 and 3600, got "${timeoutText}"`);
    const url = str(p, 'url') ?? io.env['KVS_EDGE_MQTT_URL'] ?? 'mqtt://127.0.0.1:1883';
    try {
      const proto = new URL(url).protocol;
      if (!['mqtt:', 'mqtts:', 'tcp:', 'ssl:', 'tls:', 'ws:', 'wss:'].includes(proto)) throw new Error();
    } catch {
      throw new UsageError(`--url must be a broker URL such as mqtt://host:1883, got "${url}"`);
    }
    const opts: FleetClientOptions = { url, protocolVersion: version === '5' ? 5 : 4, connectTimeoutMs: Math.min(timeout * 1000, 10_000) };
    const prefix = str(p, 'prefix');
    if (prefix) opts.topicPrefix = prefix;
    const username = str(p, 'username');
    const password = str(p, 'password');
    if (username !== undefined) opts.username = username;
    if (password !== undefined) opts.password = password;
    for (const k of ['ca', 'cert', 'key'] as const) {
      const f = str(p, k);
      if (f) opts[k] = readPem(f, k);
    }
    const fleet = await FleetClient.connect(opts);
    try {
      const sendOpts: { timeoutMs: number; requestId?: string } = { timeoutMs: timeout * 1000 };
      const rid = str(p, 'request-id');
      if (rid) sendOpts.requestId = rid;
      const result = await fleet.send(device, command, args, sendOpts);
      io.stdout.write(JSON.stringify(result, null, 2) + '\n');
      return EXIT_OK;
    } catch (e) {
      if (e instanceof RemoteError) {
        const who = e.code === 'ERR_TIMEOUT' ? '' : `${device} rejected ${command}: `;
        io.stderr.write(`kvs-edge send: ${who}${e.code}: ${e.message}\n`);
        return EXIT_FAILURE;
      }
      throw e;
    } finally {
      await fleet.close();
    }
  },
};
