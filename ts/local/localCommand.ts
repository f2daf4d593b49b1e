// `kvs-edge local`: the KVS-compatible service on loopback, until SIGINT/SIGTERM (then GO_AWAY
// to everyone and a clean stop). Prints one JSON line that clients need: endpoints, region,
// credentials, channel ARNs, STUN/TURN, the CA file when it serves TLS.
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, str } from '../cli/args.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type CliCommand, type CliIO } from '../cli/command.js';
import { errorMessage } from '../kvs/KvsError.js';
import { describeProtocolError, startLocalService, type LocalServiceOptions } from './LocalKvsService.js';

const help = `Usage: kvs-edge local [options]

Runs a KVS-compatible signaling service on loopback: control plane, GetIceServerConfig, the
signaling WebSocket (SigV4 verified), a STUN responder and TURN through coturn when installed.
Prints one JSON line with its endpoint, region, credentials and channel ARNs, then serves
until interrupted (SIGINT/SIGTERM send GO_AWAY to every client, then stop).

Options:
  --host H                 listen address (default 127.0.0.1)
  --port N                 port (default: a free one)
  --region R               region (default us-west-2)
  --channel NAME           a channel that exists from the start (repeatable, comma list)
  --auto-create            DescribeSignalingChannel of an unknown name creates it
  --access-key-id K        accepted key (default: generated)
  --secret-access-key S    its secret (default: generated)
  --tls                    serve HTTPS/WSS with a certificate from a generated CA
  --aws-names              serve as AWS does (for clients with no endpoint setting, such as
                           the official C SDK): HTTPS/WSS on port 443 (or --port), portless
                           endpoints kinesisvideo.<region>.amazonaws.com and
                           m-/v-/r-<id>.kinesisvideo.<region>.amazonaws.com, STUN on UDP 443;
                           map those names (printed as "hostNames") to --host in a hosts file
  --cert FILE --key FILE   the HTTPS/WSS certificate and key (PEM) instead of a generated one
  --ca-out FILE            write that CA certificate here (clients must trust it)
  --no-turn                do not start coturn
  --turn-ttl SECONDS       TURN credential lifetime (default 300)
  --iot-role-alias ALIAS   also serve an IoT credentials endpoint (mutual TLS) for ALIAS
  -h, --help               this help
`;

function readPem(file: string, flag: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`${flag} ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  if (!text.includes('-----BEGIN ')) throw new UsageError(`${flag} ${file}: not a PEM file`);
  return text;
}

function int(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} ${v}: not a non-negative integer`);
  return n;
}

export const localCommand: CliCommand = {
  name: 'local',
  help,
  async run(argv: string[], io: CliIO): Promise<number> {
    const p = parse(argv, {
      host: { type: 'string' },
      port: { type: 'string' },
      region: { type: 'string' },
      channel: { type: 'string', multiple: true },
      'auto-create': { type: 'boolean' },
      'access-key-id': { type: 'string' },
      'secret-access-key': { type: 'string' },
      tls: { type: 'boolean' },
      'aws-names': { type: 'boolean' },
      cert: { type: 'string' },
      key: { type: 'string' },
      'ca-out': { type: 'string' },
      'no-turn': { type: 'boolean' },
      'turn-ttl': { type: 'string' },
      'iot-role-alias': { type: 'string' },
    });
    if (p.values['help']) {
      io.stdout.write(help);
      return EXIT_OK;
    }
    const channelsRaw = (p.values as Record<string, unknown>)['channel'];
    const channels = (Array.isArray(channelsRaw) ? (channelsRaw as string[]) : [])
      .flatMap((c) => c.split(','))
      .map((c) => c.trim())
      .filter(Boolean);
    const key = str(p, 'access-key-id');
    const secret = str(p, 'secret-access-key');
    if ((key === undefined) !== (secret === undefined)) {
      throw new UsageError('--access-key-id and --secret-access-key go together');
    }
    const opts: LocalServiceOptions = { channels, autoCreateChannels: p.values['auto-create'] === true };
    const host = str(p, 'host');
    if (host) opts.host = host;
    const port = int(str(p, 'port'), 'port');
    if (port !== undefined) opts.port = port;
    const region = str(p, 'region');
    if (region) opts.region = region;
    if (key && secret) opts.credentials = { accessKeyId: key, secretAccessKey: secret };
    if (p.values['tls']) opts.tls = true;
    if (p.values['aws-names']) opts.awsNames = true;
    const certFile = str(p, 'cert');
    const keyFile = str(p, 'key');
    if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError('--cert and --key go together');
    if (certFile && keyFile) opts.tls = { cert: readPem(certFile, '--cert'), key: readPem(keyFile, '--key') };
    if (p.values['no-turn']) opts.turn = false;
    const ttl = int(str(p, 'turn-ttl'), 'turn-ttl');
    if (ttl !== undefined) opts.turnTtlSec = ttl;
    const alias = str(p, 'iot-role-alias');
    if (alias) opts.iot = { roleAliases: [alias] };

    let svc;
    try {
      svc = await startLocalService(opts);
    } catch (err) {
      io.stderr.write(`kvs-edge local: cannot start: ${errorMessage(err)}\n`);
      return EXIT_FAILURE;
    }
    svc.on('protocolError', (peer, type, description, sent) => io.stderr.write(`kvs-edge local: ${describeProtocolError(peer, type, description, sent)}\n`));
    const caOut = str(p, 'ca-out');
    if (caOut && svc.caCert) writeFileSync(caOut, svc.caCert);
    io.stdout.write(
      `${JSON.stringify({
        endpoint: svc.endpoint,
        wssEndpoint: svc.wssEndpoint,
        region: svc.region,
        credentials: svc.credentials,
        channels: Object.fromEntries([...svc.channels.values()].map((c) => [c.name, c.arn])),
        stun: svc.stunUrl ?? null,
        turn: svc.turnAvailable,
        iotEndpoint: svc.iotEndpoint ?? null,
        caFile: caOut && svc.caCert ? caOut : null,
        ...(svc.awsHostNames.length ? { hostNames: svc.awsHostNames, host: svc.host } : {}),
      })}\n`,
    );
    const service = svc;
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    await service.close();
    return EXIT_OK;
  },
};
