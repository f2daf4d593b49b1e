// `kvs-edge hil`: the hardware-in-the-loop scenario against one camera (see ts/hil/scenario.ts),
// written as TAP on stdout (or --tap FILE) and as a JSON report (--json FILE).
import { writeFileSync } from 'node:fs';
import { EnvCredentialsProvider, StaticCredentialsProvider } from '../kvs/index.js';
import { runScenario, toTap } from '../hil/scenario.js';
import { parse, str } from './args.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type CliCommand } from './command.js';

const help = `Usage: kvs-edge hil --device ID --channel NAME [options]

Runs the HIL scenario against a camera: checks its status over MQTT, connects N native
viewers, measures them, changes the bitrate and checks the viewers see it, requests a
keyframe, kicks a viewer. Prints TAP; writes a JSON report with every figure.

Options:
  --device ID           the device id on MQTT (required)
  --channel NAME        its KVS signaling channel (required)
  --url URL             MQTT broker (default: $KVS_EDGE_MQTT_URL or mqtt://127.0.0.1:1883)
  --mqtt-version V      5 (default) or 3.1.1
  --prefix TEMPLATE     topic prefix (default: kvs-edge/{deviceId})
  --endpoint URL        KVS control-plane endpoint (e.g. the one \`kvs-edge local\` prints)
  --region R            AWS region (default: $AWS_REGION or us-west-2)
  --access-key ID       credentials; default: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
  --secret-key KEY
  --viewers N           viewers to connect (default 3, at most 10)
  --window S            seconds per measurement window (default 4)
  --bitrate KBPS        the lowered rate of the bitrate step (default: a third of the measured rate)
  --tap FILE            write the TAP there instead of stdout
  --json FILE           write the JSON report there
Exit codes: 0 every step passed, 1 a step failed, 2 usage error.
`;

function int(v: string | undefined, name: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} needs an integer in [${min}, ${max}], got "${v}"`);
  return n;
}

export const hilCommand: CliCommand = {
  name: 'hil',
  help,
  async run(argv, io) {
    const p = parse(argv, {
      device: { type: 'string' }, channel: { type: 'string' }, url: { type: 'string' }, 'mqtt-version': { type: 'string' },
      prefix: { type: 'string' }, endpoint: { type: 'string' }, region: { type: 'string' }, 'access-key': { type: 'string' },
      'secret-key': { type: 'string' }, viewers: { type: 'string' }, window: { type: 'string' }, bitrate: { type: 'string' },
      tap: { type: 'string' }, json: { type: 'string' },
    });
    if (p.values['help']) {
      io.stdout.write(help);
      return EXIT_OK;
    }
    if (p.positionals.length) throw new UsageError(`unexpected argument "${p.positionals[0]}"`);
    const deviceId = str(p, 'device');
    const channel = str(p, 'channel');
    if (!deviceId) throw new UsageError('--device is required');
    if (!channel) throw new UsageError('--channel is required');
    const version = str(p, 'mqtt-version') ?? '5';
    if (version !== '5' && version !== '3.1.1') throw new UsageError(`--mqtt-version must be 5 or 3.1.1, got "${version}"`);
    const accessKey = str(p, 'access-key');
    const secretKey = str(p, 'secret-key');
    if ((accessKey === undefined) !== (secretKey === undefined)) throw new UsageError('--access-key and --secret-key go together');
    const endpoint = str(p, 'endpoint');
    const prefix = str(p, 'prefix');
    const bitrate = int(str(p, 'bitrate'), 'bitrate', 50, 50000);
    const tapFile = str(p, 'tap');
    const jsonFile = str(p, 'json');
    const report = await runScenario({
      deviceId,
      channel,
      broker: str(p, 'url') ?? io.env['KVS_EDGE_MQTT_URL'] ?? 'mqtt://127.0.0.1:1883',
      mqttProtocol: version === '5' ? 5 : 4,
      ...(prefix ? { topicPrefix: prefix } : {}),
      region: str(p, 'region') ?? io.env['AWS_REGION'] ?? 'us-west-2',
      credentials: accessKey && secretKey ? new StaticCredentialsProvider({ accessKeyId: accessKey, secretAccessKey: secretKey }) : new EnvCredentialsProvider(),
      ...(endpoint ? { endpoint } : {}),
      viewers: int(str(p, 'viewers'), 'viewers', 1, 10) ?? 3,
      windowS: int(str(p, 'window'), 'window', 1, 600) ?? 4,
      ...(bitrate !== undefined ? { bitrateKbps: bitrate } : {}),
      onStep: (s, i) => io.stderr.write(`[hil] ${s.ok ? 'ok' : 'FAIL'} ${i} ${s.name}: ${s.summary}\n`),
    });
    const tap = toTap(report);
    if (tapFile) writeFileSync(tapFile, tap);
    else io.stdout.write(tap);
    if (jsonFile) writeFileSync(jsonFile, `${JSON.stringify(report, null, 2)}\n`);
    return report.ok ? EXIT_OK : EXIT_FAILURE;
  },
};
