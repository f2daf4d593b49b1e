// `kvs-edge view`: connect to a KVS channel as a VIEWER with the native engine (the HIL view of
// a camera) and report what arrived: time to first frame with its phases, frames, keyframes,
// fps, bitrate, loss, RTT.
import { ControlPlane, EnvCredentialsProvider, StaticCredentialsProvider, createChannelSignaling } from '../kvs/index.js';
import { PeerConnection, type PeerStats } from '../native/index.js';
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
}

function parse(argv: string[], env: NodeJS.ProcessEnv): ViewArgs | 'help' {
  const out: Partial<ViewArgs> = { region: env.AWS_REGION ?? 'us-west-2', durationS: 10, json: false,
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
  incompleteFrames: number;
  rttMs?: number;
  timeToFirstFrameMs?: number;
  phases: { answerMs?: number; iceMs?: number; dtlsMs?: number; firstKeyframeMs?: number };
  audioPackets: number;
}

export async function view(args: ViewArgs): Promise<ViewReport> {
  const credentials = args.accessKey && args.secretKey
    ? new StaticCredentialsProvider({ accessKeyId: args.accessKey, secretAccessKey: args.secretKey })
    : new EnvCredentialsProvider();
  const cp = new ControlPlane({ region: args.region, channelName: args.channel, credentials, ...(args.endpoint ? { endpoint: args.endpoint } : {}) });
  const iceServers = await cp.getIceServers('VIEWER', args.clientId).catch(() => []);
  const sc = await createChannelSignaling({ controlPlane: cp, credentials, role: 'VIEWER', clientId: args.clientId });
  sc.on('error', () => undefined);
  const pc = new PeerConnection({ id: args.clientId, iceServers: iceServers.map((s) => ({ urls: s.urls, ...(s.username ? { username: s.username, credential: s.credential } : {}) })) });
  let answered = false;
  let answerMs: number | undefined;
  const early: { candidate: string; sdpMid?: string | null; sdpMLineIndex?: number | null }[] = [];
  try {
    await sc.open();
    pc.on('candidate', (c) => { try { sc.sendIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid ?? null, sdpMLineIndex: c.sdpMLineIndex ?? null }); } catch { /* signaling down */ } });
    sc.on('iceCandidate', (c) => {
      if (!answered) { early.push(c); return; }
      try { pc.addRemoteCandidate(c); } catch { /* a candidate we cannot use */ }
    });
    const answer = new Promise<string>((resolve) => sc.on('sdpAnswer', (a) => resolve(a.sdp)));
    const t0 = performance.now();
    const offer = await pc.createOffer({ video: true, audio: 'recvonly' });
    sc.sendSdpOffer({ type: 'offer', sdp: offer });
    const sdp = await Promise.race([answer, new Promise<null>((r) => setTimeout(() => r(null), 15000))]);
    if (sdp !== null) {
      answerMs = performance.now() - t0;
      await pc.setRemoteAnswer(sdp);
      answered = true;
      for (const c of early.splice(0)) { try { pc.addRemoteCandidate(c); } catch { /* ignored */ } }
      const a = await pc.getStats();
      const b0 = a.videoBytesReceived;
      const f0 = a.framesReceived;
      const tStart = performance.now();
      await new Promise((r) => setTimeout(r, args.durationS * 1000));
      const s: PeerStats = await pc.getStats();
      const secs = (performance.now() - tStart) / 1000;
      return report(args, s, answerMs, (s.framesReceived - f0) / secs, ((s.videoBytesReceived - b0) * 8) / secs / 1000);
    }
    return report(args, await pc.getStats(), answerMs, 0, 0);
  } finally {
    pc.close();
    sc.close();
    cp.close();
  }
}

function report(args: ViewArgs, s: PeerStats, answerMs: number | undefined, fps: number, kbps: number): ViewReport {
  const ttff = s.timing.firstFrameReceivedMs;
  return {
    channel: args.channel,
    clientId: args.clientId,
    connected: s.state === 'connected',
    frames: s.framesReceived,
    keyframes: s.keyframesReceived,
    fps: Math.round(fps * 10) / 10,
    bitrateKbps: Math.round(kbps),
    incompleteFrames: s.incompleteFrames,
    ...(s.rttMs !== undefined ? { rttMs: s.rttMs } : {}),
    ...(ttff !== undefined ? { timeToFirstFrameMs: Math.round(ttff) } : {}),
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
    `phases           answer ${r.phases.answerMs ?? '-'} ms, ICE ${r.phases.iceMs ?? '-'} ms, DTLS ${r.phases.dtlsMs ?? '-'} ms (from the offer)`,
    `frames           ${r.frames} (${r.keyframes} keyframes, ${r.incompleteFrames} incomplete)`,
    `fps              ${r.fps}`,
    `bitrate          ${r.bitrateKbps} kbps`,
    `rtt              ${r.rttMs === undefined ? '-' : `${r.rttMs.toFixed(1)} ms`}`,
    `audio packets    ${r.audioPackets}`,
  ];
  io.stdout.write(`${lines.join('\n')}\n`);
}

export const viewCommand: CliCommand = {
  name: 'view',
  summary: 'connect to a channel as a viewer and report what arrives',
  help,
  async run(argv, io) {
    const args = parse(argv, io.env);
    if (args === 'help') {
      io.stdout.write(help);
      return EXIT_OK;
    }
    const r = await view(args);
    print(io, r, args.json);
    return r.frames > 0 ? EXIT_OK : EXIT_FAILURE;
  },
};
