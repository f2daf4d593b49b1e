// Board profiles (boards/*.json) and board detection from the device tree, the Jetson release
// file and the machine architecture. `root` lets tests point at a fake /proc, /etc and /dev tree.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine } from 'node:os';
import { z } from 'zod';
import { ConfigError, invalidConfig, issuesFromZod } from './errors.js';

const absPath = z.string().regex(/^\/[^\0]*$/, 'must be an absolute path');

const encoderSchema = z.strictObject({
  kind: z.literal('v4l2m2m'),
  device: absPath,
  driver: z.string().min(1),
  maxWidth: z.number().int().positive(),
  maxHeight: z.number().int().positive(),
  quirks: z.array(z.string().min(1)).default([]),
  /** V4L2 control ids where this encoder differs from the standard ones. */
  controls: z.strictObject({ bitrate: z.number().int().positive().optional(), idrPeriod: z.number().int().positive().optional() }).optional(),
  /** Alignment the encoder needs of its raw buffers (pixels). */
  align: z.strictObject({ width: z.number().int().min(1).max(256).optional(), height: z.number().int().min(1).max(256).optional() }).optional(),
});

const cameraSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('v4l2'), device: absPath, notes: z.string().optional() }),
  z.strictObject({ kind: z.literal('libcamera'), program: z.string().min(1), notes: z.string().optional() }),
  z.strictObject({ kind: z.literal('nvargus'), program: z.string().min(1), notes: z.string().optional() }),
]);

export const boardProfileSchema = z.strictObject({
  $comment: z.string().optional(),
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'must be lower-case letters, digits, "-" or "_"'),
  name: z.string().min(1),
  /** `uname -m` values this board runs. */
  arch: z.array(z.string().min(1)).min(1),
  match: z
    .strictObject({
      /** Substrings of /proc/device-tree/model. */
      model: z.array(z.string().min(1)).optional(),
      /** Only a board with /etc/nv_tegra_release. */
      tegra: z.boolean().optional(),
      /** Generic profiles: chosen by architecture when no model matches. */
      arch: z.array(z.string().min(1)).optional(),
    })
    .refine((m) => (m.model?.length ?? 0) > 0 || (m.arch?.length ?? 0) > 0, {
      message: 'must name at least one model substring or architecture',
    }),
  encoders: z.array(encoderSchema),
  cameras: z.array(cameraSchema),
  thermalZone: absPath.optional(),
  notes: z.string().optional(),
});

export type BoardProfile = z.output<typeof boardProfileSchema>;
export type EncoderProfile = BoardProfile['encoders'][number];
export type CameraProfile = BoardProfile['cameras'][number];

/** boards/ at the package root, from both ts/config (tsx) and dist/config (compiled). */
export const DEFAULT_BOARDS_DIR = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', 'boards');

export function parseBoardProfile(value: unknown, what: string): BoardProfile {
  const r = boardProfileSchema.safeParse(value);
  if (!r.success) throw invalidConfig(what, issuesFromZod(r.error, value));
  return r.data;
}

export function loadBoardProfiles(dir: string = DEFAULT_BOARDS_DIR): BoardProfile[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json')).sort();
  } catch {
    throw new ConfigError('ERR_BOARDS_DIR', `board profile directory ${dir} is not readable`);
  }
  const seen = new Set<string>();
  return names.map((n) => {
    const file = join(dir, n);
    let value: unknown;
    try {
      value = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    } catch (e) {
      throw new ConfigError('ERR_CONFIG_PARSE', `board profile ${file} is not valid JSON: ${(e as Error).message}`);
    }
    const p = parseBoardProfile(value, `board profile ${file}`);
    if (`${p.id}.json` !== n) throw new ConfigError('ERR_BOARD_ID', `board profile ${file} has id "${p.id}"; the file must be named ${p.id}.json`);
    if (seen.has(p.id)) throw new ConfigError('ERR_BOARD_ID', `board id "${p.id}" appears twice`);
    seen.add(p.id);
    return p;
  });
}

export interface HostFacts {
  /** /proc/device-tree/model without the trailing NUL, or null. */
  model: string | null;
  /** First line of /etc/nv_tegra_release, or null. */
  tegraRelease: string | null;
  /** `uname -m`. */
  arch: string;
}

export interface HostOptions {
  /** Prefix for /proc, /etc, /dev, /sys (tests use a temp dir). Default "/". */
  root?: string;
  /** Override `uname -m`. */
  arch?: string;
}

export function hostPath(root: string, abs: string): string {
  return root === '/' ? abs : join(root, abs);
}

function readText(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

export function readHostFacts(options: HostOptions = {}): HostFacts {
  const root = options.root ?? '/';
  const model =
    readText(hostPath(root, '/proc/device-tree/model')) ?? readText(hostPath(root, '/sys/firmware/devicetree/base/model'));
  const tegra = readText(hostPath(root, '/etc/nv_tegra_release'));
  return {
    model: model === null ? null : model.replace(/\0+$/, '').trim(),
    tegraRelease: tegra === null ? null : (tegra.split('\n')[0] ?? '').trim(),
    arch: options.arch ?? machine(),
  };
}

export interface Detection {
  board: BoardProfile | null;
  /** How the board was chosen, in words. */
  reason: string;
  facts: HostFacts;
}

/** Chooses the profile whose model substring is the longest match; generic by architecture otherwise. */
export function detectBoard(profiles: readonly BoardProfile[], facts: HostFacts): Detection {
  let best: { p: BoardProfile; len: number; pattern: string } | undefined;
  if (facts.model) {
    const model = facts.model.toLowerCase();
    for (const p of profiles) {
      if (p.match.tegra && facts.tegraRelease === null) continue;
      for (const m of p.match.model ?? []) {
        if (model.includes(m.toLowerCase()) && (!best || m.length > best.len)) best = { p, len: m.length, pattern: m };
      }
    }
  }
  if (best) return { board: best.p, reason: `device-tree model "${facts.model}" contains "${best.pattern}"`, facts };
  const generic = profiles.find((p) => p.match.arch?.includes(facts.arch));
  const unknown = facts.model ? `model "${facts.model}" matches no profile` : 'no device-tree model';
  const tegra = facts.tegraRelease ? ` (a Jetson release file is present: ${facts.tegraRelease})` : '';
  if (generic) return { board: generic, reason: `${unknown}${tegra}; architecture ${facts.arch}`, facts };
  return { board: null, reason: `${unknown}${tegra}; no profile for architecture ${facts.arch}`, facts };
}

export function findBoard(profiles: readonly BoardProfile[], id: string): BoardProfile {
  const p = profiles.find((b) => b.id === id);
  if (!p) {
    throw new ConfigError('ERR_BOARD_UNKNOWN', `board "${id}" is not a known profile; known: ${profiles.map((b) => b.id).join(', ')}`, [
      { field: 'board', value: id, allowed: `auto or one of ${profiles.map((b) => b.id).join(', ')}` },
    ]);
  }
  return p;
}
