// `kvs-edge view`: connect to a KVS channel as a VIEWER with the native engine (the HIL view of
// a camera) and report what arrived: time to first frame with its phases, frames, keyframes,
// fps, bitrate, loss, RTT.
import { ControlPlane, EnvCredentialsProvider, StaticCredentialsProvider, type CredentialsProvider } from '../kvs/index.js';
import { controlPlaneViewerConfig, startWebServer } from '../web/server.js';
import { waitForSignal } from './run.js';
import type { PeerStats } from '../native/index.js';
import { NativeViewer, type ViewWindow } from '../hil/native-viewer.js';
import { EXIT_FAILURE, EXIT_OK, UsageError, type CliCommand, type CliIO } from './command.js';

const help = `kvs-edge view --channel NAME [options]

Connects to the channel as a viewer (native engine: H.264 + Opus receive) and prints what
arrived after --duration seconds.

Options:
  --channel NAME        signaling channel (required)
  --endpoint URL        control-plane endpoint (e.g. the one \`kvs-edge local\` prints)
  --region R            AWS region (default: $AWS_REGION or us-west-2)
  --access-key ID       credentials; default: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
  --secret-key KEY
  --client-id ID        viewer client id (default: kvs-edge-view-<random>)
  --duration S          seconds to watch after the answer (default 10)
  --json                print one JSON object instead of text
  --web                 instead: serve the browser viewer page (the KVS JS SDK, served
                        locally) for this channel on 127.0.0.1 and print its URL; the page
                        signs with the credentials above. Runs until Ctrl-C.
  --port N              the page's port with --web (default 8080, a free one if taken)
Exit codes: 0 frames arrived, 1 no answer / no frames / connection failed, 2 usage error.
`;

interface ViewArgs {
  channel: string;
  endpoint?: string;
  region: string;
  accessKey?: string;
  secretKey?: string;
  clientId: string;
  durationS: number;
  json: boolean;
  web: boolean;
  port: number;
}

function parse(argv: string[], env: NodeJS.ProcessEnv): ViewArgs | 'help' {
  const out: Partial<ViewArgs> = { region: env.AWS_REGION ?? 'us-west-2', durationS: 10, json: false, web: false, port: 8080,
    clientId: `kvs-edge-view-${Math.random().toString(36).slice(2, 10)}` };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = argv[i + 1];
    const need = (): string => {
      if (v === undefined || v.startsWith('--')) throw new UsageError(`${a} needs a value`);
      i++;
      return v;
    };
    switch (a) {
      case '--help': case '-h': return 'help';
      case '--channel': out.channel = need(); break;
      case '--endpoint': out.endpoint = need(); break;
      case '--region': out.region = need(); break;
      case '--access-key': out.accessKey = need(); break;
      case '--secret-key': out.secretKey = need(); break;
      case '--client-id': out.clientId = need(); break;
      case '--duration': {
        const d = Number(need());
        if (!Number.isFinite(d) || d <= 0 || d > 86400) throw new UsageError(`--duration needs seconds in (0, 86400], got "${v}"`);
        out.durationS = d;
        break;
      }
      case '--json': out.json = true; break;
      case '--web': out.web = true; break;
      case '--port': {
        const p = Number(need());
        if (!Number.isInteger(p) || p < 0 || p > 65535) throw new UsageError(`--port needs a port number in [0, 65535], got "${v}"`);
        out.port = p;
        break;
      }
      default: throw new UsageError(`unknown option "${a}"`);
    }
  }
  if (!out.channel) throw new UsageError('--channel is required');
  if ((out.accessKey === undefined) !== (out.secretKey === undefined)) throw new UsageError('--access-key and --secret-key go together');
  return out as ViewArgs;
}

export interface ViewReport {
  channel: string;
  clientId: string;
  connected: boolean;
  frames: number;
  keyframes: number;
  fps: number;
  bitrateKbps: number;
  /** Video packets lost over the measured window, percent of those expected. */
  lossPercent: number;
  /** Video packets lost since the start. */
  packetsLost: number;
  incompleteFrames: number;
  rttMs?: number;
  timeToFirstFrameMs?: number;
  /** Capture-to-arrival latency (mean over the frames), when the stream carries capture timestamps (SEI). */
  glassToGlassMs?: number;
  phases: { answerMs?: number; iceMs?: number; dtlsMs?: number; firstKeyframeMs?: number };
  audioPackets: number;
}

function credentialsOf(args: ViewArgs): CredentialsProvider {
  return args.accessKey && args.secretKey
    ? new StaticCredentialsProvider({ accessKeyId: args.accessKey, secretAccessKey: args.secretKey })
    : new EnvCredentialsProvider();
}

export async function view(args: ViewArgs): Promise<ViewReport> {
  const credentials = credentialsOf(args);
  const v = await NativeViewer.connect({ channel: args.channel, region: args.region, credentials, clientId: args.clientId, ...(args.endpoint ? { endpoint: args.endpoint } : {}) });
  try {
    if (v.answerMs === undefined) return report(args, await v.stats(), undefined);
    const w = await v.measure(args.durationS);
    return report(args, await v.stats(), v.answerMs, w);
  } finally {
    v.close();
  }
}

function report(args: ViewArgs, s: PeerStats, answerMs: number | undefined, w?: ViewWindow): ViewReport {
  const ttff = s.timing.firstFrameReceivedMs;
  return {
    channel: args.channel,
    clientId: args.clientId,
    connected: s.state === 'connected',
    frames: s.framesReceived,
    keyframes: s.keyframesReceived,
    fps: w?.fps ?? 0,
    bitrateKbps: w?.bitrateKbps ?? 0,
    lossPercent: w?.lossPercent ?? 0,
    packetsLost: s.videoPacketsLost,
    incompleteFrames: s.incompleteFrames,
    ...(s.rttMs !== undefined ? { rttMs: s.rttMs } : {}),
    ...(ttff !== undefined ? { timeToFirstFrameMs: Math.round(ttff) } : {}),
    ...(s.glassToGlassMeanMs !== undefined ? { glassToGlassMs: Math.round(s.glassToGlassMeanMs) } : {}),
    phases: {
      ...(answerMs !== undefined ? { answerMs: Math.round(answerMs) } : {}),
      ...(s.timing.iceConnectedMs !== undefined ? { iceMs: Math.round(s.timing.iceConnectedMs) } : {}),
      ...(s.timing.dtlsConnectedMs !== undefined ? { dtlsMs: Math.round(s.timing.dtlsConnectedMs) } : {}),
      ...(ttff !== undefined ? { firstKeyframeMs: Math.round(ttff) } : {}),
    },
    audioPackets: s.audioPacketsReceived,
  };
}

function print(io: CliIO, r: ViewReport, json: boolean): void {
  if (json) {
    io.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  const lines = [
    `channel          ${r.channel} (as ${r.clientId})`,
    `connected        ${r.connected}`,
    `first frame      ${r.timeToFirstFrameMs === undefined ? '-' : `${r.timeToFirstFrameMs} ms after the offer`}`,
    `phases           signaling (answer) ${r.phases.answerMs ?? '-'} ms, ICE ${r.phases.iceMs ?? '-'} ms, DTLS ${r.phases.dtlsMs ?? '-'} ms, first keyframe ${r.phases.firstKeyframeMs ?? '-'} ms (from the offer)`,
    `frames           ${r.frames} (${r.keyframes} keyframes, ${r.incompleteFrames} incomplete)`,
    `fps              ${r.fps}`,
    `bitrate          ${r.bitrateKbps} kbps`,
    `loss             ${r.lossPercent} % of video packets over the window (${r.packetsLost} lost in all)`,
    `rtt              ${r.rttMs === undefined ? '-' : `${r.rttMs.toFixed(1)} ms`}`,
    `glass to glass   ${r.glassToGlassMs === undefined ? '- (the stream carries no capture timestamps)' : `${r.glassToGlassMs} ms`}`,
    `audio packets    ${r.audioPackets}`,
  ];
  io.stdout.write(`${lines.join('\n')}\n`);
}

/** `--web`: the browser viewer page for the channel, until a signal. */
async function serveWeb(args: ViewArgs, io: CliIO): Promise<number> {
  const credentials = credentialsOf(args);
  const cp = new ControlPlane({ region: args.region, channelName: args.channel, credentials, ...(args.endpoint ? { endpoint: args.endpoint } : {}) });
  try {
    const { wss } = await cp.getEndpoints('VIEWER');
    const web = await startWebServer({
      port: args.port,
      fallbackToFreePort: true,
      signalingOrigin: new URL(wss).origin,
      viewerConfig: controlPlaneViewerConfig(cp, args.channel, credentials),
    });
    io.stdout.write(`viewer page for channel ${args.channel}: ${web.url}\n(Ctrl-C to stop)\n`);
    await waitForSignal();
    await web.close();
    return EXIT_OK;
  } finally {
    cp.close();
  }
}

export const viewCommand: CliCommand = {
  name: 'view',
  help,
  async run(argv, io) {
    const args = parse(argv, io.env);
    if (args === 'help') {
      io.stdout.write(help);
      return EXIT_OK;
    }
    if (args.web) return serveWeb(args, io);
    const r = await view(args);
    print(io, r, args.json);
    return r.frames > 0 ? EXIT_OK : EXIT_FAILURE;
  },
};
