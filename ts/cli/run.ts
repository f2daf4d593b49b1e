// `kvs-edge run`: the device runtime. Loads the configuration, serves viewers on the KVS channel
// as MASTER (ts/runtime/device.ts), takes MQTT commands when mqtt.enabled, tells systemd when it
// is ready and that it is alive, and shuts down cleanly (and within a bound) on SIGTERM/SIGINT.
import { readFileSync } from 'node:fs';
import { ConfigStore } from '../config/config-store.js';
import { detectBoard, findBoard, loadBoardProfiles, readHostFacts, type BoardProfile } from '../config/boards.js';
import { loadConfigFile } from '../config/load.js';
import { StaticCredentialsProvider } from '../kvs/StaticCredentialsProvider.js';
import { Logger, isLogLevel, type LogLevel } from '../log/logger.js';
import { redactText, secretValues } from '../log/redact.js';
import { secretFileWarnings } from '../config/secret-files.js';
import type { RemoteControl } from '../remote/remote-control.js';
import { Device } from '../runtime/device.js';
import { SystemdNotifier } from '../runtime/sd-notify.js';
import { parse, str } from './args.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, type CliCommand, type CliIO } from './command.js';

const help = `Usage: kvs-edge run --config FILE [options]

Runs the device: serves viewers on the configured KVS signaling channel as its master (one
shared H.264 encoder, one WebRTC peer per viewer, at most viewers.max), and, when mqtt.enabled,
takes remote commands and publishes status, telemetry and events over MQTT. Logs go to stderr
(JSON lines, or short lines on a terminal). SIGTERM or SIGINT closes the viewers, publishes the
offline status and exits 0.

Under systemd (Type=notify) it sends READY=1 once the channel is up and WATCHDOG=1 pings at
half of WatchdogSec (see scripts/systemd/kvs-edge.service).

Options:
  --config FILE          configuration (JSON or YAML); see 'kvs-edge config validate'
  --local                start an embedded local KVS service on loopback and use it
                         (no AWS account needed; its endpoint is printed as a JSON line)
  --ca FILE              also trust this CA for the control plane and signaling (a
                         'kvs-edge local --tls --ca-out FILE' service)
  --log-level LEVEL      override logging.level (trace, debug, info, warn, error, fatal, silent)
  --shutdown-timeout S   longest graceful shutdown before exiting 1 (default 10)
  -h, --help             this help

Exit codes: 0 stopped by a signal, 1 runtime failure, 2 usage or configuration error (including
a source or encoder this build does not have).
`;

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function boardFor(configured: string, log: Logger): BoardProfile | null {
  try {
    const profiles = loadBoardProfiles();
    if (configured !== 'auto') return findBoard(profiles, configured);
    const d = detectBoard(profiles, readHostFacts());
    log.info('board detected', { board: d.board?.id ?? null, reason: d.reason });
    return d.board;
  } catch (e) {
    if (configured !== 'auto') throw e;
    log.warn('board detection failed', { error: e as Error });
    return null;
  }
}

/** Resolves on the first SIGINT/SIGTERM; a second one while shutting down exits 1 at once. */
export function waitForSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals): void => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      // A second signal while shutting down: leave at once.
      const again = (): void => process.exit(EXIT_FAILURE);
      process.once('SIGINT', again);
      process.once('SIGTERM', again);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

export const runCommand: CliCommand = {
  name: 'run',
  help,
  async run(argv: string[], io: CliIO): Promise<number> {
    const p = parse(argv, {
      config: { type: 'string', short: 'c' },
      local: { type: 'boolean' },
      ca: { type: 'string' },
      'log-level': { type: 'string' },
      'shutdown-timeout': { type: 'string' },
    });
    if (p.values['help']) {
      io.stdout.write(help);
      return EXIT_OK;
    }
    if (p.positionals.length) throw new UsageError(`unexpected argument "${p.positionals[0] ?? ''}"`);
    const file = str(p, 'config');
    if (!file) throw new UsageError('--config FILE is required (a JSON or YAML configuration; {} is valid)');
    const levelArg = str(p, 'log-level');
    if (levelArg !== undefined && !isLogLevel(levelArg)) throw new UsageError(`--log-level must be one of trace, debug, info, warn, error, fatal, silent; got "${levelArg}"`);
    const timeoutText = str(p, 'shutdown-timeout') ?? '10';
    const shutdownSec = Number(timeoutText);
    if (!Number.isFinite(shutdownSec) || shutdownSec <= 0 || shutdownSec > 300) throw new UsageError(`--shutdown-timeout must be seconds in (0, 300], got "${timeoutText}"`);

    const caFile = str(p, 'ca');
    let ca: string | undefined;
    if (caFile !== undefined) {
      try {
        ca = readFileSync(caFile, 'utf8');
      } catch (e) {
        throw new UsageError(`--ca ${caFile}: cannot read (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
      }
    }
    // Validate first (a configuration error is exit 2, before anything starts).
    const loaded = loadConfigFile(file, io.env);
    const initial = loaded.config;
    const env: NodeJS.ProcessEnv = { ...io.env };
    let local: Awaited<ReturnType<typeof import('../local/index.js').startLocalService>> | undefined;
    const level: LogLevel = levelArg !== undefined && isLogLevel(levelArg) ? levelArg : initial.logging.level;
    // Secrets from the configuration and the environment are scrubbed from every line, at any level.
    const logger = new Logger({ level, format: initial.logging.format, fields: { deviceId: initial.deviceId }, secrets: [...secretValues(initial), ...secretValues(io.env)] });
    const log = logger.child({ module: 'run' });
    for (const w of secretFileWarnings(file, loaded.document, io.env)) {
      log.warn(w.message, { file: w.file, mode: w.mode, readableBy: w.readableBy, holds: w.holds, fix: w.fix });
    }
    // The AWS SDK prints a multi-line notice about Node versions on stderr; keep stderr to
    // structured lines and say it once here instead.
    const nodeMajor = Number(process.versions.node.split('.')[0]);
    if (nodeMajor < 22) log.info('AWS SDK releases after January 2027 need Node 22 or later', { node: process.versions.node });
    process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

    let credentials;
    if (p.values['local']) {
      const { startLocalService } = await import('../local/index.js');
      local = await startLocalService({ region: initial.region, channels: [initial.channel.name], autoCreateChannels: true, turn: 'auto' });
      const { describeProtocolError } = await import('../local/index.js');
      const localLog = logger.child({ module: 'local' });
      local.on('protocolError', (peer, type, description, sent) => localLog.warn(describeProtocolError(peer, type, description, sent)));
      env['KVS_EDGE_CONTROL_ENDPOINT'] = local.endpoint;
      credentials = new StaticCredentialsProvider(local.credentials);
      io.stdout.write(
        JSON.stringify({
          local: {
            endpoint: local.endpoint,
            region: local.region,
            credentials: local.credentials,
            channel: initial.channel.name,
            channelArn: local.channelArn(initial.channel.name),
            stun: local.stunUrl ?? null,
            turn: local.turnAvailable,
          },
        }) + '\n',
      );
    }

    const closeLocal = async (): Promise<void> => {
      if (local) await local.close().catch(() => undefined);
      local = undefined;
    };

    let store: ConfigStore;
    try {
      store = new ConfigStore(file, { env, fallbackToLastGood: true });
    } catch (e) {
      await closeLocal();
      throw e;
    }
    if (store.recoveredFrom) log.warn('configuration recovered', { reason: store.recoveredFrom.message });
    if (levelArg === undefined) logger.setLevel(store.config.logging.level);
    const config = store.config;
    logger.addSecrets(secretValues(config));
    log.trace('configuration', { file, config });
    log.trace('environment', { env: Object.fromEntries(Object.entries(io.env).filter(([k]) => k.startsWith('KVS_EDGE_') || k.startsWith('AWS_'))) });
    let board: BoardProfile | null;
    try {
      board = boardFor(config.board, log);
    } catch (e) {
      await closeLocal();
      throw e;
    }

    const device = new Device({
      store,
      logger,
      version: packageVersion(),
      board: board?.id ?? null,
      boardProfile: board,
      env,
      ...(credentials ? { credentials } : {}),
      ...(ca !== undefined ? { ca } : {}),
    });
    device.onEvent((e) => {
      if (e.type === 'viewer-joined' || e.type === 'viewer-left' || e.type === 'state') log.info('event', { ...e });
    });

    const notifier = new SystemdNotifier({ env: io.env });
    let remote: RemoteControl | undefined;
    const signal = waitForSignal();
    try {
      const s = await device.start();
      log.info('device started', { state: s.state, channel: s.channel, board: s.board, encoder: s.encoder });
    } catch (e) {
      log.error('device could not start', { error: e as Error });
      await closeLocal();
      const err = e as Error & { code?: string };
      io.stderr.write(logger.scrub(`kvs-edge run: ${err.code ? `${err.code}: ` : ''}${redactText(err.message)}\n`));
      // What the configuration asks for and this build cannot do is a configuration error: exit
      // 2, which the systemd unit does not restart (RestartPreventExitStatus=2).
      return err.code === 'ERR_UNSUPPORTED' ? EXIT_USAGE : EXIT_FAILURE;
    }

    if (config.mqtt.enabled) {
      // MQTT remote control (mqtt.js and the command schemas) is loaded only when enabled.
      const { RemoteControl } = await import('../remote/remote-control.js');
      remote = new RemoteControl({
        deviceId: config.deviceId,
        mqtt: config.mqtt,
        controller: device,
        logger,
        ...(board?.thermalZone ? { thermalZone: board.thermalZone } : {}),
      });
      remote.on('error', () => undefined);
      remote.on('connected', (i) => log.info('mqtt connected', { protocolVersion: i.protocolVersion }));
      // Keeps retrying in the background: a device without its broker still serves viewers.
      remote.start(15_000).catch((e: unknown) => log.warn('mqtt not connected yet', { error: e as Error }));
    }

    await notifier.ready(`channel ${config.channel.name}: ${device.state}`);
    notifier.startWatchdog(() => true, io.env);
    const statusTimer = setInterval(() => void notifier.status(`channel ${config.channel.name}: ${device.state}`), 30_000);
    statusTimer.unref();

    const sig = await signal;
    log.info('shutting down', { signal: sig });
    clearInterval(statusTimer);
    notifier.stopWatchdog();
    const shutdown = (async () => {
      await notifier.stopping();
      await device.stop();
      await remote?.stop();
      await closeLocal();
    })();
    let timer: NodeJS.Timeout | undefined;
    const inTime = await Promise.race([
      shutdown.then(
        () => true,
        (e: unknown) => {
          log.error('shutdown error', { error: e as Error });
          return true;
        },
      ),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), shutdownSec * 1000))),
    ]);
    clearTimeout(timer);
    if (!inTime) {
      log.error('shutdown did not finish in time; exiting', { timeoutSec: shutdownSec });
      process.exit(EXIT_FAILURE);
    }
    log.info('stopped');
    // Nothing should keep the loop alive now; if something does, do not hang past the bound.
    setTimeout(() => process.exit(EXIT_OK), shutdownSec * 1000).unref();
    return EXIT_OK;
  },
};
