// The one configuration of a device. Every field has a default a newcomer can run with
// (test pattern, software encoder, local KVS endpoints are opt-in), so `{}` is a valid config.
import { z } from 'zod';
import { LOG_LEVELS } from '../log/logger.js';
import { BUILTIN_TALKBACK_SINKS, BUILTIN_VIDEO_SOURCES, REMOTE_SETTABLE_FIELDS } from './remote-fields.js';

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const idString = (what: string) =>
  z.string().regex(ID_RE, `${what} must be 1-128 characters of letters, digits, '.', '_' or '-', starting with a letter or digit`);

const urlString = (schemes: readonly string[]) =>
  z.string().refine(
    (s) => {
      try {
        return schemes.includes(new URL(s).protocol.replace(/:$/, ''));
      } catch {
        return false;
      }
    },
    { message: `must be a URL with scheme ${schemes.join(', ')}` },
  );

const filePath = z.string().min(1, 'must be a non-empty file path');

/**
 * The name of an alternative the local configuration defines (video.sources, audio.sources,
 * audio.talkbackSinks): what a remote set-config may pick instead of naming a program, file or
 * device itself (see remote-fields.ts).
 */
const ALT_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const altName = z.string().regex(ALT_NAME_RE, "must be a name of 1-64 letters, digits, '_' or '-'");
const altKey = (reserved: readonly string[], what: string) =>
  altName.refine((k) => !reserved.includes(k), { message: `${reserved.map((r) => JSON.stringify(r)).join(', ')} cannot name one of the ${what}: built in` });
function namedAlternatives<T extends z.ZodType>(def: T, reserved: readonly string[], what: string) {
  return z.record(altKey(reserved, what), def).default({} as Record<string, z.output<T>>);
}
/** "a, b" or a hint where nothing is defined, for messages. */
function listNames(names: readonly string[]): string {
  return names.length ? names.join(', ') : 'none defined';
}

export const ENCODERS = ['auto', 'v4l2m2m', 'openh264', 'passthrough'] as const;

const credentialsSchema = z.discriminatedUnion('source', [
  z.strictObject({ source: z.literal('environment') }),
  z.strictObject({
    source: z.literal('static'),
    accessKeyId: z.string().min(16).max(128),
    secretAccessKey: z.string().min(1),
    sessionToken: z.string().min(1).optional(),
  }),
  z.strictObject({ source: z.literal('profile'), profile: z.string().min(1).default('default'), file: filePath.optional() }),
  z.strictObject({
    source: z.literal('iot'),
    endpoint: z.string().min(1),
    roleAlias: z.string().min(1),
    thingName: z.string().min(1),
    certFile: filePath,
    keyFile: filePath,
    caFile: filePath.optional(),
  }),
]);

export const CAPTURE_FORMATS = ['auto', 'NV12', 'YU12', 'I420', 'YUYV', 'H264'] as const;
export const PIPE_FORMATS = ['h264', 'i420', 'nv12', 'yuyv'] as const;

const videoSourceSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('pattern') }),
  /** A V4L2 camera: raw formats are encoded, H.264 passed through; 'auto' takes the first of NV12, YU12, YUYV, H264 it offers. */
  z.strictObject({
    type: z.literal('v4l2'),
    device: filePath.default('/dev/video0'),
    format: z
      .string()
      .superRefine((f, ctx) => {
        if ((CAPTURE_FORMATS as readonly string[]).includes(f)) return;
        ctx.addIssue({
          code: 'custom',
          message: /m?jpe?g/i.test(f)
            ? 'MJPEG is not supported: kvs-edge does not decode JPEG; use a camera mode with YUYV, NV12 or H264, or a pipe source that decodes it'
            : `one of ${CAPTURE_FORMATS.join(', ')}`,
        });
      })
      .transform((f) => f as (typeof CAPTURE_FORMATS)[number])
      .default('auto'),
  }),
  z.strictObject({ type: z.literal('file'), path: filePath, loop: z.boolean().default(true) }),
  /** A command (argv, never a shell) whose stdout is H.264 Annex-B (e.g. rpicam-vid --codec h264 -o -) or raw frames of video.width x video.height. */
  z.strictObject({
    type: z.literal('pipe'),
    command: z.array(z.string().min(1)).min(1, 'must name the command to run (argv)'),
    format: z.enum(PIPE_FORMATS).default('h264'),
  }),
]);

export type VideoSource = z.output<typeof videoSourceSchema>;

const videoSchema = z
  .strictObject({
    /** The video source: an object, or the name of one in `sources` ('pattern' is built in). */
    source: z.union([altName, videoSourceSchema]).default({ type: 'pattern' }),
    /** Named sources, e.g. { day: {type: v4l2}, night: {type: pipe} }: what MQTT may pick by name. */
    sources: namedAlternatives(videoSourceSchema, BUILTIN_VIDEO_SOURCES, 'video sources'),
    encoder: z.enum(ENCODERS).default('auto'),
    /** Encoder device for v4l2m2m; default: the one the board profile names. */
    encoderDevice: filePath.optional(),
    width: z.number().int().min(160).max(3840).default(1280),
    height: z.number().int().min(120).max(2160).default(720),
    fps: z.number().int().min(1).max(60).default(30),
    bitrate: z
      .strictObject({
        minKbps: z.number().int().min(50).max(50000).default(150),
        startKbps: z.number().int().min(50).max(50000).default(1500),
        maxKbps: z.number().int().min(50).max(50000).default(4000),
      })
      .prefault({})
      .refine((b) => b.minKbps <= b.startKbps && b.startKbps <= b.maxKbps, {
        message: 'must satisfy minKbps <= startKbps <= maxKbps',
      }),
    /** Frames between IDRs. */
    keyframeInterval: z.number().int().min(1).max(600).default(60),
    /** H.264 quantiser bounds of the encoder (raw sources); unset: the encoder's own. */
    qpMin: z.number().int().min(1).max(51).optional(),
    qpMax: z.number().int().min(1).max(51).optional(),
    /** Embed each frame's capture time as H.264 SEI so viewers can measure glass-to-glass latency. */
    captureTimestamps: z.boolean().default(false),
  })
  .prefault({})
  .transform((v, ctx) => {
    const { source, ...rest } = v;
    if (typeof source !== 'string') return { ...rest, source, sourceName: null };
    const picked: VideoSource | undefined = Object.hasOwn(v.sources, source) ? v.sources[source] : source === 'pattern' ? { type: 'pattern' } : undefined;
    if (picked === undefined) {
      const names = [...Object.keys(v.sources), ...BUILTIN_VIDEO_SOURCES];
      ctx.issues.push({ code: 'custom', path: ['source'], input: source, message: `a source object or the name of one in video.sources (${listNames(names)})` });
      return z.NEVER;
    }
    return { ...rest, source: picked, sourceName: source as string | null };
  })
  .superRefine((v, ctx) => {
    if (v.qpMin !== undefined && v.qpMax !== undefined && v.qpMin > v.qpMax) {
      ctx.addIssue({ code: 'custom', path: ['qpMin'], message: `at most qpMax (${v.qpMax})` });
    }
    const h264Source = v.source.type === 'file' || (v.source.type === 'pipe' && v.source.format === 'h264');
    if (h264Source && v.encoder !== 'auto' && v.encoder !== 'passthrough') {
      ctx.addIssue({ code: 'custom', path: ['encoder'], message: `must be auto or passthrough: source ${v.source.type} gives H.264 already (got ${v.encoder})` });
    }
    const raw = v.source.type === 'pattern' || (v.source.type === 'pipe' && v.source.format !== 'h264');
    if (raw && v.encoder === 'passthrough') {
      ctx.addIssue({ code: 'custom', path: ['encoder'], message: `passthrough needs an H.264 source; source ${v.source.type} gives raw frames (use auto, openh264 or v4l2m2m)` });
    }
    if (v.source.type === 'v4l2' && v.encoder === 'passthrough' && v.source.format !== 'H264' && v.source.format !== 'auto') {
      ctx.addIssue({ code: 'custom', path: ['encoder'], message: `passthrough needs H.264 from the camera; source.format is ${v.source.format}` });
    }
    if ((v.width % 2 !== 0 || v.height % 2 !== 0) && v.source.type !== 'file') {
      ctx.addIssue({ code: 'custom', path: ['width'], message: `width and height must be even for 4:2:0 video (got ${v.width}x${v.height})` });
    }
  });

const argv = z.array(z.string().min(1, 'argv entries must be non-empty')).min(1, 'must name the command to run (argv, no shell)');

const talkbackSchema = z
  .strictObject({
    /**
     * Where a viewer's audio goes: 'file' (WAV or Ogg Opus, `path` with `{viewer}` replaced by the
     * viewer's client id), 'command' (argv, no shell, fed s16le 48 kHz mono on stdin, e.g.
     * aplay -f S16_LE -r 48000 -c 1 -), or 'none'.
     */
    sink: z.enum(['none', 'alsa', 'file', 'command']).default('none'),
    device: z.string().min(1).optional(),
    path: filePath.optional(),
    /** File format; default from the extension (.ogg/.opus: ogg, otherwise wav). */
    format: z.enum(['wav', 'ogg']).optional(),
    command: argv.optional(),
  })
  .superRefine((v, ctx) => {
    if (v.sink === 'file' && v.path === undefined) ctx.addIssue({ code: 'custom', path: ['path'], message: 'talkback sink "file" needs a path (e.g. /var/lib/kvs-edge/talkback-{viewer}.ogg)' });
    if (v.sink === 'command' && v.command === undefined) ctx.addIssue({ code: 'custom', path: ['command'], message: 'talkback sink "command" needs a command (argv, e.g. ["aplay", "-f", "S16_LE", "-r", "48000", "-c", "1", "-"])' });
    if (v.sink !== 'file' && (v.path !== undefined || v.format !== undefined)) ctx.addIssue({ code: 'custom', path: ['path'], message: `path/format are for talkback sink "file", not "${v.sink}"` });
    if (v.sink !== 'command' && v.command !== undefined) ctx.addIssue({ code: 'custom', path: ['command'], message: `command is for talkback sink "command", not "${v.sink}"` });
  });
export type Talkback = z.output<typeof talkbackSchema>;

export const AUDIO_SOURCE_KINDS = ['none', 'tone', 'alsa', 'file'] as const;
/** A named audio source (audio.sources): what audio.source, audio.device and audio.path say inline. */
const audioSourceDefSchema = z.discriminatedUnion('source', [
  z.strictObject({ source: z.literal('tone') }),
  z.strictObject({ source: z.literal('alsa'), device: z.string().min(1).optional() }),
  z.strictObject({ source: z.literal('file'), path: filePath }),
]);

const audioSchema = z
  .strictObject({
    /** 'none', 'tone', 'alsa', 'file' (an Ogg Opus file at `path`, looped), or the name of one in `sources`. */
    source: z.union([z.enum(AUDIO_SOURCE_KINDS), altName]).default('none'),
    device: z.string().min(1).optional(),
    path: filePath.optional(),
    /** Named audio sources, e.g. { greeting: {source: file, path: ...} }: what MQTT may pick by name. */
    sources: namedAlternatives(audioSourceDefSchema, AUDIO_SOURCE_KINDS, 'audio sources'),
    codec: z.enum(['opus']).default('opus'),
    /** Where a viewer's audio goes: an object, or the name of one in `talkbackSinks` ('none' is built in). */
    talkback: z.union([altName, talkbackSchema]).prefault({}),
    /** Named talk-back sinks, e.g. { speaker: {sink: command, command: [aplay, ...]} }: what MQTT may pick by name. */
    talkbackSinks: namedAlternatives(talkbackSchema, BUILTIN_TALKBACK_SINKS, 'talk-back sinks'),
  })
  .transform((v, ctx) => {
    const { source, talkback, ...rest } = v;
    let kind: (typeof AUDIO_SOURCE_KINDS)[number];
    let device = v.device;
    let path = v.path;
    let sourceName: string | null = null;
    if ((AUDIO_SOURCE_KINDS as readonly string[]).includes(source)) {
      kind = source as (typeof AUDIO_SOURCE_KINDS)[number];
      if (kind === 'none' || kind === 'tone') sourceName = kind;
    } else {
      const def = Object.hasOwn(v.sources, source) ? v.sources[source] : undefined;
      if (def === undefined) {
        ctx.issues.push({ code: 'custom', path: ['source'], input: source, message: `one of ${AUDIO_SOURCE_KINDS.join(', ')} or the name of a source in audio.sources (${listNames(Object.keys(v.sources))})` });
        return z.NEVER;
      }
      if (v.device !== undefined || v.path !== undefined) {
        ctx.issues.push({ code: 'custom', path: [v.path !== undefined ? 'path' : 'device'], input: v.path ?? v.device, message: `nothing: the named source "${source}" gives its own` });
        return z.NEVER;
      }
      kind = def.source;
      device = def.source === 'alsa' ? def.device : undefined;
      path = def.source === 'file' ? def.path : undefined;
      sourceName = source;
    }
    let tb: Talkback;
    let talkbackName: string | null = null;
    if (typeof talkback !== 'string') tb = talkback;
    else {
      const def = Object.hasOwn(v.talkbackSinks, talkback) ? v.talkbackSinks[talkback] : talkback === 'none' ? ({ sink: 'none' } as Talkback) : undefined;
      if (def === undefined) {
        ctx.issues.push({ code: 'custom', path: ['talkback'], input: talkback, message: `a talk-back object or the name of one in audio.talkbackSinks (${listNames([...Object.keys(v.talkbackSinks), ...BUILTIN_TALKBACK_SINKS])})` });
        return z.NEVER;
      }
      tb = def;
      talkbackName = talkback;
    }
    return {
      ...rest,
      source: kind,
      ...(device !== undefined ? { device } : {}),
      ...(path !== undefined ? { path } : {}),
      sourceName,
      talkback: tb,
      talkbackName,
    };
  })
  .superRefine((v, ctx) => {
    if (v.source === 'file' && v.path === undefined) ctx.addIssue({ code: 'custom', path: ['path'], message: 'audio source "file" needs the path of an Ogg Opus file' });
    if (v.source !== 'file' && v.path !== undefined) ctx.addIssue({ code: 'custom', path: ['path'], message: `path is for audio source "file", not "${v.source}"` });
  })
  .prefault({});

const iceServerSchema = z.strictObject({
  urls: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  username: z.string().optional(),
  credential: z.string().optional(),
});

const iceSchema = z
  .strictObject({
    transportPolicy: z.enum(['all', 'relay']).default('all'),
    /** Host TCP candidates (ICE-TCP); off by default: they delay nomination for every viewer. */
    tcpCandidates: z.boolean().default(false),
    /** Use the KVS STUN server of the region. */
    kvsStun: z.boolean().default(true),
    /** Use the TURN servers from GetIceServerConfig. */
    kvsTurn: z.boolean().default(true),
    servers: z.array(iceServerSchema).max(16).default([]),
  })
  .prefault({});

const mqttSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    url: urlString(['mqtt', 'mqtts', 'tcp', 'ssl', 'tls', 'ws', 'wss']).default('mqtt://127.0.0.1:1883'),
    /** Default: the device id. */
    clientId: z.string().min(1).max(128).optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    tls: z
      .strictObject({
        caFile: filePath.optional(),
        certFile: filePath.optional(),
        keyFile: filePath.optional(),
        rejectUnauthorized: z.boolean().default(true),
      })
      .prefault({})
      .refine((t) => (t.certFile === undefined) === (t.keyFile === undefined), {
        message: 'certFile and keyFile must be given together',
      }),
    /** '{deviceId}' is replaced by the device id. */
    topicPrefix: z
      .string()
      .min(1)
      .regex(/^[^#+\s]+$/, 'must not contain MQTT wildcards (+, #) or whitespace')
      .refine((s) => !s.startsWith('/') && !s.endsWith('/') && !s.includes('//'), {
        message: 'must not start or end with "/" or contain empty levels',
      })
      .default('kvs-edge/{deviceId}'),
    qos: z.literal([0, 1]).default(1),
    /**
     * The fields set-config may change on this device: a subset of the built-in allow-list
     * (remote-fields.ts, README "MQTT"); unset: all of it. It cannot widen the list, and the
     * fleet cannot change it.
     */
    remoteSettable: z.array(z.enum(REMOTE_SETTABLE_FIELDS)).optional(),
    /** 'auto' tries MQTT 5 and falls back to 3.1.1. */
    protocol: z.enum(['auto', '5', '3.1.1']).default('auto'),
    keepaliveSec: z.number().int().min(5).max(1200).default(30),
    telemetryIntervalSec: z.number().int().min(1).max(3600).default(10),
    rateLimit: z
      .strictObject({
        perSecond: z.number().min(0.1).max(1000).default(5),
        burst: z.number().int().min(1).max(1000).default(20),
      })
      .prefault({}),
  })
  .prefault({});

const systemSchema = z
  .strictObject({
    reboot: z
      .strictObject({
        enabled: z.boolean().default(false),
        /** argv, executed without a shell. */
        command: z.array(z.string().min(1)).min(1).default(['/usr/bin/systemctl', 'reboot']),
      })
      .prefault({}),
  })
  .prefault({});

export const configSchema = z.strictObject({
  /** Lets editors find the JSON schema; ignored otherwise. */
  $schema: z.string().optional(),
  deviceId: idString('deviceId').default('kvs-edge-dev'),
  region: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as us-west-2')
    .default('us-west-2'),
  endpoints: z
    .strictObject({
      /** Control-plane endpoint override, e.g. the local KVS service. */
      controlPlane: urlString(['http', 'https']).optional(),
    })
    .prefault({}),
  credentials: credentialsSchema.default({ source: 'environment' }),
  board: z.string().regex(/^(auto|[a-z0-9-]+)$/, "must be 'auto' or a board profile id").default('auto'),
  channel: z
    .strictObject({
      name: z
        .string()
        .regex(/^[a-zA-Z0-9_.-]{1,256}$/, "must be 1-256 characters of letters, digits, '_', '.' or '-'")
        .default('kvs-edge-channel'),
      createIfMissing: z.boolean().default(true),
    })
    .prefault({}),
  video: videoSchema,
  audio: audioSchema,
  ice: iceSchema,
  viewers: z.strictObject({ max: z.number().int().min(1).max(10).default(10) }).prefault({}),
  mqtt: mqttSchema,
  logging: z
    .strictObject({
      level: z.enum(LOG_LEVELS).default('info'),
      format: z.enum(['auto', 'json', 'pretty']).default('auto'),
    })
    .prefault({}),
  system: systemSchema,
});

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { io: 'input' }) as Record<string, unknown>;
  return { ...schema, title: 'kvs-edge configuration' };
}
