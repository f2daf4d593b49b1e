// The fleet's trust boundary: which configuration fields a remote `set-config` (MQTT) may change.
// This file is the one place that says so. It is an allow-list: a field not named here is
// refused. The fleet may tune the camera; it may not make the device run a program, or open a
// file, a directory or a device node that the local configuration did not name.
//
// - VALUE fields hold numbers, booleans, enums or names that cannot execute, read or write
//   anything on the device.
// - CHOICE fields select what the device reads from or writes to (a camera, a pipe command, a
//   file, a speaker command). Remotely they take only a name: one the local configuration
//   defines (video.sources, audio.sources, audio.talkbackSinks) or a built-in harmless one. An
//   object for them is refused.
// - Neither the allow-list (code, narrowed only by mqtt.remoteSettable in the local file) nor the
//   named alternatives can be changed remotely: they are not on the list.
import type { Config } from './schema.js';

/** Fields a remote set-config may set to any valid value, and what each is. */
export const REMOTE_VALUE_FIELDS = {
  'channel.name': 'the KVS signaling channel the device serves',
  'video.width': 'picture width',
  'video.height': 'picture height',
  'video.fps': 'frame rate',
  'video.bitrate.minKbps': 'lowest encoder bitrate',
  'video.bitrate.startKbps': 'starting encoder bitrate',
  'video.bitrate.maxKbps': 'highest encoder bitrate',
  'video.keyframeInterval': 'frames between IDRs',
  'video.qpMin': 'lowest H.264 quantiser',
  'video.qpMax': 'highest H.264 quantiser',
  'video.captureTimestamps': 'capture-time SEI in each frame',
  'video.encoder': 'which built-in encoder (auto, v4l2m2m, openh264, passthrough); the device node stays the local one',
  'audio.codec': 'the audio codec',
  'ice.transportPolicy': 'all candidates or relay only',
  'ice.tcpCandidates': 'host TCP candidates',
  'ice.kvsStun': "use the region's KVS STUN server",
  'ice.kvsTurn': "use KVS's TURN servers",
  'viewers.max': 'viewers at once',
  'logging.level': 'log level',
  'logging.format': 'log format',
} as const;

/** Built-in alternatives of the choice fields: they read, write and run nothing. */
export const BUILTIN_VIDEO_SOURCES = ['pattern'] as const;
export const BUILTIN_AUDIO_SOURCES = ['none', 'tone'] as const;
export const BUILTIN_TALKBACK_SINKS = ['none'] as const;

interface Choice {
  /** Where the local configuration defines the named alternatives. */
  from: string;
  noun: string;
  names(c: Config): string[];
}

/** Fields that name what the device reads, writes or runs: remotely, only a name among these. */
export const REMOTE_CHOICE_FIELDS: Record<'video.source' | 'audio.source' | 'audio.talkback', Choice> = {
  'video.source': { from: 'video.sources', noun: 'video source', names: (c) => [...Object.keys(c.video.sources), ...BUILTIN_VIDEO_SOURCES] },
  'audio.source': { from: 'audio.sources', noun: 'audio source', names: (c) => [...Object.keys(c.audio.sources), ...BUILTIN_AUDIO_SOURCES] },
  'audio.talkback': { from: 'audio.talkbackSinks', noun: 'talk-back sink', names: (c) => [...Object.keys(c.audio.talkbackSinks), ...BUILTIN_TALKBACK_SINKS] },
};

/** Every field the fleet may change; mqtt.remoteSettable may narrow it to a subset, never widen it. */
export const REMOTE_SETTABLE_FIELDS = [...Object.keys(REMOTE_VALUE_FIELDS), ...Object.keys(REMOTE_CHOICE_FIELDS)] as [string, ...string[]];

/** Why a field off the list is refused; the longest matching prefix wins. */
const WHY: readonly (readonly [prefix: string, why: string])[] = [
  ['video.source.command', 'names a program'],
  ['audio.talkback.command', 'names a program'],
  ['video.source.path', 'names a file'],
  ['audio.path', 'names a file'],
  ['audio.talkback.path', 'names a file'],
  ['video.source.device', 'names a device node'],
  ['video.encoderDevice', 'names a device node'],
  ['audio.device', 'names a device node'],
  ['audio.talkback.device', 'names a device node'],
  ['video.sources', 'the named video sources are defined only in the local configuration'],
  ['audio.sources', 'the named audio sources are defined only in the local configuration'],
  ['audio.talkbackSinks', 'the named talk-back sinks are defined only in the local configuration'],
  ['mqtt.remoteSettable', 'the list of remotely settable fields is set only in the local configuration'],
  ['mqtt', 'the fleet connection is set only in the local configuration'],
  ['credentials', 'holds credentials and names key files'],
  ['deviceId', "is the device's identity"],
  ['endpoints', 'says where the device sends signed requests'],
  ['region', 'says where the device sends signed requests'],
  ['ice.servers', 'says where media and TURN credentials go'],
  ['system', 'runs a program on the host'],
  ['board', 'selects the device nodes of a board profile'],
];
/** Alternatives-defining fields: refused as a whole, not leaf by leaf. */
const WHOLE = new Set(['video.sources', 'audio.sources', 'audio.talkbackSinks', 'mqtt.remoteSettable']);
/** Under a choice field given as an object, the leaf named in the refusal: the most dangerous one. */
const DANGER_ORDER = ['command', 'path', 'device'];

function whyOf(field: string): string | undefined {
  let best: readonly [string, string] | undefined;
  for (const w of WHY) if ((field === w[0] || field.startsWith(`${w[0]}.`)) && (!best || w[0].length > best[0].length)) best = w;
  return best?.[1];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Deeper than any configuration field: a patch nested further is refused without walking it. */
const MAX_DEPTH = 8;

function leaves(v: unknown, path: string, depth = 0): string[] {
  if (!isObject(v) || depth >= MAX_DEPTH) return [path];
  return Object.entries(v).flatMap(([k, x]) => leaves(x, `${path}.${k}`, depth + 1));
}

export interface RemotePatchCheck {
  /** The fields the patch changes (for the config-applied event). */
  changed: string[];
  /** One line per refused field: `field: not remotely settable: why`. Empty: the patch may go on. */
  refusals: string[];
}

/** What the fleet may change on this device: the built-in list, or the local narrowing of it. */
export function remotelySettable(config: Config): Set<string> {
  return new Set<string>(config.mqtt.remoteSettable ?? REMOTE_SETTABLE_FIELDS);
}

/**
 * The fields among `fields` that this device's list does not let the fleet change. The commands
 * that change a setting without a patch (set-bitrate, set-video, set-log-level) ask this, so a
 * local mqtt.remoteSettable narrows them as it narrows set-config.
 */
export function notRemotelySettable(fields: readonly string[], config: Config): string[] {
  const allowed = remotelySettable(config);
  return fields.filter((f) => !allowed.has(f));
}

/**
 * Checks a set-config patch against the allow-list before anything is validated, written or
 * applied. `config` is the running configuration: it gives the named alternatives and the
 * local narrowing (mqtt.remoteSettable).
 */
export function checkRemotePatch(patch: Record<string, unknown>, config: Config): RemotePatchCheck {
  const allowed = remotelySettable(config);
  const changed: string[] = [];
  const refusals: string[] = [];
  const grouped = new Map<string, string[]>();
  const refuse = (field: string, why: string): void => {
    grouped.set(why, [...(grouped.get(why) ?? []), field]);
  };
  let offList = false;

  const walk = (node: Record<string, unknown>, base: string, depth: number): void => {
    for (const [k, v] of Object.entries(node)) {
      const field = base ? `${base}.${k}` : k;
      // {} merges nothing: no change, nothing to check.
      if (isObject(v) && Object.keys(v).length === 0) continue;
      const choice = Object.hasOwn(REMOTE_CHOICE_FIELDS, field) ? REMOTE_CHOICE_FIELDS[field as keyof typeof REMOTE_CHOICE_FIELDS] : undefined;
      if (choice && allowed.has(field)) {
        const names = choice.names(config);
        const a = /^[aeiou]/.test(choice.noun) ? 'an' : 'a';
        const pick = `pick ${a} ${choice.noun} defined in the local configuration (${names.join(', ')})`;
        if (typeof v === 'string' && names.includes(v)) changed.push(field);
        else if (typeof v === 'string') refuse(field, `no ${choice.noun} named ${JSON.stringify(v)}; ${pick}`);
        else if (isObject(v)) {
          const under = leaves(v, field, depth);
          const worst = DANGER_ORDER.map((d) => `${field}.${d}`).find((l) => under.includes(l));
          refuse(worst ?? field, `${worst ? whyOf(worst) : `${a} ${choice.noun} given as an object`}; ${pick}`);
        } else refuse(field, `takes only the name of ${a} ${choice.noun}; ${pick}`);
        continue;
      }
      if (allowed.has(field)) {
        changed.push(field);
        continue;
      }
      if ((REMOTE_SETTABLE_FIELDS as string[]).includes(field)) {
        refuse(field, 'not on this device\'s list (mqtt.remoteSettable in its configuration)');
        continue;
      }
      if (isObject(v) && !WHOLE.has(field) && depth < MAX_DEPTH) {
        walk(v, field, depth + 1);
        continue;
      }
      const why = whyOf(field);
      if (why) refuse(field, why);
      else if ([...allowed].some((f) => f.startsWith(`${field}.`))) refuse(field, 'not as a whole: set the fields the fleet may change one by one');
      else {
        refuse(field, 'not on the list of fields the fleet may change');
        offList = true;
      }
    }
  };
  walk(patch, '', 0);
  for (const [why, fields] of grouped) refusals.push(`${fields.join(', ')}: not remotely settable: ${why}`);
  if (offList) refusals.push(`the fleet may change: ${[...allowed].join(', ')}`);
  return { changed, refusals };
}
