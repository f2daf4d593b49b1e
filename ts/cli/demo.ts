// `kvs-edge demo` (what `npm start` runs): the local KVS service, an MQTT broker, the device
// runtime with the test pattern and a tone, MQTT remote control and the browser viewer, all in
// this process on loopback (ts/demo/demo.ts). No AWS account, no camera.
import { isLogLevel, type LogLevel } from '../log/logger.js';
import { parse, str } from './args.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type CliCommand } from './command.js';
import { waitForSignal } from './run.js';

const SHUTDOWN_MS = 15_000;

const help = `Usage: kvs-edge demo [options]

Starts, all on loopback and in one process: a local KVS-compatible service, an MQTT broker
(aedes), the device runtime as master of the channel kvs-edge-demo (moving test pattern with a
frame counter, openh264, and a 440 Hz tone), MQTT remote control on that broker, and a browser
viewer page. Open the printed URL: the page connects through the KVS WebRTC SDK, shows the
video, plays the tone, sends your microphone while "Hold to talk" is held (recorded by the
device as WAV files), echoes data-channel messages, and shows live stats. It also prints an
MQTT command to try. Ctrl-C (or SIGTERM) stops everything and exits 0.

Options:
  --port N          the page's port (default 8080; 0 or a taken port: a free one)
  --mqtt-port N     the MQTT broker's port (default 1883; 0 or a taken port: a free one)
  --width W --height H --fps F --bitrate KBPS    the test pattern (default 1280x720, 30 fps, 1500 kbps)
  --log-level L     runtime logs on stderr: trace, debug, info, warn (default), error, silent
  -h, --help        this help
`;

function intArg(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(`${name} needs a ${min === 0 ? 'non-negative' : 'positive'} integer, got "${value}"`);
  }
  return n;
}

/** `kvs-edge send` argv for a command to the demo device, quoted for a POSIX shell. */
function sendExample(deviceId: string, command: string, args: string | undefined, mqttUrl: string): string {
  return ['npx kvs-edge send', deviceId, command, ...(args ? [`'${args}'`] : []), '--url', mqttUrl, '--mqtt-version', '3.1.1'].join(' ');
}

export const demoCommand: CliCommand = {
  name: 'demo',
  help,
  async run(argv, io) {
    const p = parse(argv, {
      port: { type: 'string' },
      'mqtt-port': { type: 'string' },
      width: { type: 'string' },
      height: { type: 'string' },
      fps: { type: 'string' },
      bitrate: { type: 'string' },
      'log-level': { type: 'string' },
    });
    if (p.values['help']) {
      io.stdout.write(help);
      return EXIT_OK;
    }
    if (p.positionals.length) throw new UsageError(`unexpected argument "${p.positionals[0] ?? ''}"`);
    // Ports are checked as positive first so that "--port abc" reads naturally; 0 is allowed.
    const port = str(p, 'port') === '0' ? 0 : intArg('--port', str(p, 'port'), 1);
    const mqttPort = str(p, 'mqtt-port') === '0' ? 0 : intArg('--mqtt-port', str(p, 'mqtt-port'), 1);
    if (port !== undefined && port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
    if (mqttPort !== undefined && mqttPort > 65535) throw new UsageError(`--mqtt-port must be at most 65535, got ${mqttPort}`);
    const video: { width?: number; height?: number; fps?: number; bitrateKbps?: number } = {};
    const width = intArg('--width', str(p, 'width'), 1);
    const height = intArg('--height', str(p, 'height'), 1);
    const fps = intArg('--fps', str(p, 'fps'), 1);
    const bitrate = intArg('--bitrate', str(p, 'bitrate'), 1);
    if (width !== undefined) video.width = width;
    if (height !== undefined) video.height = height;
    if (fps !== undefined) video.fps = fps;
    if (bitrate !== undefined) video.bitrateKbps = bitrate;
    const levelArg = str(p, 'log-level');
    if (levelArg !== undefined && !isLogLevel(levelArg)) throw new UsageError(`--log-level must be one of trace, debug, info, warn, error, fatal, silent; got "${levelArg}"`);
    const logLevel: LogLevel = levelArg !== undefined && isLogLevel(levelArg) ? levelArg : 'warn';

    // The AWS SDK prints a multi-line notice about Node versions on stderr (see run.ts).
    process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
    // A signal during startup still stops cleanly once everything is up.
    const signal = waitForSignal();
    const { startDemo } = await import('../demo/demo.js');
    const demo = await startDemo({ logLevel, video, ...(port !== undefined ? { port } : {}), ...(mqttPort !== undefined ? { mqttPort } : {}) });
    const out = [
      'kvs-edge demo: everything runs on loopback; no AWS account, no camera.',
      '',
      `  viewer page   ${demo.url}   <- open it in a browser`,
      `  KVS service   ${demo.local.endpoint} (channel ${demo.channel}; device ${demo.deviceId} is its master)`,
      `  MQTT broker   ${demo.mqttUrl} (MQTT 3.1.1)`,
      `  talk-back     ${demo.talkbackDir}/talkback-<viewer>.wav (removed on exit)`,
      '',
      'Remote control over MQTT, from another terminal:',
      `  ${sendExample(demo.deviceId, 'set-bitrate', '{"kbps": 800}', demo.mqttUrl)}`,
      `  ${sendExample(demo.deviceId, 'viewers', undefined, demo.mqttUrl)}`,
      '',
      'Ctrl-C stops everything.',
      '',
    ];
    io.stdout.write(out.join('\n'));
    const sig = await signal;
    io.stdout.write(`kvs-edge demo: ${sig}, stopping\n`);
    let timer: NodeJS.Timeout | undefined;
    const inTime = await Promise.race([
      demo.close().then(() => true),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(false), SHUTDOWN_MS))),
    ]);
    clearTimeout(timer);
    if (!inTime) {
      io.stderr.write(`kvs-edge demo: shutdown did not finish within ${SHUTDOWN_MS / 1000} s; exiting\n`);
      process.exit(EXIT_FAILURE);
    }
    io.stdout.write('kvs-edge demo: stopped\n');
    return EXIT_OK;
  },
};
