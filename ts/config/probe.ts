// `kvs-edge probe`: which board this is, which encoder devices and cameras its profile names
// actually exist and open, and what `video.encoder: auto` will pick. The TypeScript checker can
// only see whether a device node exists and opens; asking it for V4L2 M2M + H.264 capabilities is
// an ioctl that belongs to the native engine, which plugs in as v4l2EncoderChecker (given the
// addon's probeV4l2) and also lists every /dev/video* with its capabilities.
import { closeSync, constants, openSync, readFileSync, statSync } from 'node:fs';
import {
  detectBoard,
  findBoard,
  hostPath,
  loadBoardProfiles,
  readHostFacts,
  type BoardProfile,
  type CameraProfile,
  type EncoderProfile,
  type HostFacts,
} from './boards.js';

export interface EncoderCheck {
  exists: boolean;
  opened: boolean;
  /** true/false when the checker could query the device; null when it could not tell. */
  isV4l2M2M: boolean | null;
  h264Capture: boolean | null;
  detail: string;
}

export type EncoderChecker = (path: string, encoder: EncoderProfile) => Promise<EncoderCheck>;

function errnoText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err.code ? `${err.code}: ${err.message.replace(/^[A-Z]+: /, '')}` : String(e);
}

/** Existence and open() only; never claims a capability it did not query. */
export function fsEncoderChecker(): EncoderChecker {
  return async (path) => {
    try {
      statSync(path);
    } catch {
      return { exists: false, opened: false, isV4l2M2M: null, h264Capture: null, detail: 'no such device node' };
    }
    let fd: number | undefined;
    try {
      fd = openSync(path, constants.O_RDWR | constants.O_NONBLOCK);
    } catch (e) {
      return { exists: true, opened: false, isV4l2M2M: null, h264Capture: null, detail: `open failed (${errnoText(e)})` };
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    return {
      exists: true,
      opened: true,
      isV4l2M2M: null,
      h264Capture: null,
      detail: 'opened; V4L2 M2M/H.264 capabilities not queried (needs the native engine)',
    };
  };
}

/** One V4L2 node as the native engine reports it (the addon's probeV4l2). */
export interface V4l2Node {
  path: string;
  opened: boolean;
  error?: string;
  driver?: string;
  card?: string;
  capabilities?: string[];
  captureFormats?: string[];
  outputFormats?: string[];
  isCapture: boolean;
  isM2M: boolean;
  isH264Encoder: boolean;
}

/** The native checker: opens the node through libv4l2 and asks it (VIDIOC_QUERYCAP, ENUM_FMT). */
export function v4l2EncoderChecker(query: (paths: string[]) => V4l2Node[]): EncoderChecker {
  return async (path) => {
    const [n] = query([path]);
    const exists = (() => {
      try {
        statSync(path);
        return true;
      } catch {
        return false;
      }
    })();
    if (!n || !n.opened) return { exists, opened: false, isV4l2M2M: exists ? false : null, h264Capture: exists ? false : null, detail: n?.error ?? 'not queried' };
    const detail = n.isH264Encoder
      ? `${n.driver}: V4L2 M2M encoder, H.264 out, ${n.outputFormats?.join('/') ?? '?'} in`
      : n.isM2M
        ? `${n.driver}: V4L2 M2M device without H.264 output (it gives ${n.captureFormats?.join(', ') || 'nothing'})`
        : `${n.driver}: not a M2M device (${n.capabilities?.join(', ') ?? ''})`;
    return { exists: true, opened: true, isV4l2M2M: n.isM2M, h264Capture: n.isH264Encoder, detail };
  };
}

export interface EncoderProbe extends EncoderCheck {
  kind: EncoderProfile['kind'];
  device: string;
  driver: string;
  usable: boolean;
}

export interface CameraProbe {
  kind: CameraProfile['kind'];
  device?: string;
  program?: string;
  found: boolean;
  detail: string;
}

export interface ProbeReport {
  board: { id: string; name: string; notes?: string } | null;
  detection: { reason: string } & HostFacts;
  encoders: EncoderProbe[];
  cameras: CameraProbe[];
  auto: { encoder: 'v4l2m2m' | 'openh264'; device: string | null; reason: string };
  /** What `video.encoder: auto` would open, in order, with the profile's quirks/controls/alignment. */
  wouldOpen: Array<
    | { encoder: 'v4l2m2m'; device: string; driver: string; quirks: string[]; controls?: EncoderProfile['controls']; align?: EncoderProfile['align'] }
    | { encoder: 'openh264'; note: string }
  >;
  /** Every V4L2 node the native engine found (/dev/video*), when it was asked. */
  devices?: V4l2Node[];
  socTemperatureC: number | null;
}

export interface ProbeOptions {
  root?: string;
  arch?: string;
  boardsDir?: string;
  /** 'auto' (default) or a profile id to skip detection. */
  board?: string;
  checker?: EncoderChecker;
  /** Lists the host's V4L2 nodes (the native engine's probeV4l2). */
  listDevices?: () => V4l2Node[];
}

const PROGRAM_DIRS = ['/usr/local/bin', '/usr/bin', '/bin'];

function probeCamera(root: string, cam: CameraProfile): CameraProbe {
  if (cam.kind === 'v4l2') {
    const p = hostPath(root, cam.device);
    try {
      statSync(p);
      return { kind: cam.kind, device: cam.device, found: true, detail: 'device node exists' };
    } catch {
      return { kind: cam.kind, device: cam.device, found: false, detail: 'no such device node' };
    }
  }
  for (const dir of PROGRAM_DIRS) {
    try {
      const st = statSync(hostPath(root, `${dir}/${cam.program}`));
      if (st.isFile()) return { kind: cam.kind, program: cam.program, found: true, detail: `${dir}/${cam.program}` };
    } catch {
      /* try the next directory */
    }
  }
  return { kind: cam.kind, program: cam.program, found: false, detail: `${cam.program} not found in ${PROGRAM_DIRS.join(':')}` };
}

function readTemperature(root: string, board: BoardProfile | null): number | null {
  if (!board?.thermalZone) return null;
  try {
    const milli = Number(readFileSync(hostPath(root, board.thermalZone), 'utf8').trim());
    return Number.isFinite(milli) ? Math.round(milli / 100) / 10 : null;
  } catch {
    return null;
  }
}

export async function probe(options: ProbeOptions = {}): Promise<ProbeReport> {
  const root = options.root ?? '/';
  const profiles = loadBoardProfiles(options.boardsDir);
  const facts = readHostFacts({ root, ...(options.arch !== undefined ? { arch: options.arch } : {}) });
  let board: BoardProfile | null;
  let reason: string;
  if (options.board && options.board !== 'auto') {
    board = findBoard(profiles, options.board);
    reason = `chosen by configuration (board: ${options.board})`;
  } else {
    ({ board, reason } = detectBoard(profiles, facts));
  }
  const checker = options.checker ?? fsEncoderChecker();
  const encoders: EncoderProbe[] = [];
  for (const enc of board?.encoders ?? []) {
    let check: EncoderCheck;
    try {
      check = await checker(hostPath(root, enc.device), enc);
    } catch (e) {
      check = { exists: false, opened: false, isV4l2M2M: null, h264Capture: null, detail: `checker failed: ${errnoText(e)}` };
    }
    const usable = check.opened && check.isV4l2M2M === true && check.h264Capture === true;
    encoders.push({ kind: enc.kind, device: enc.device, driver: enc.driver, ...check, usable });
  }
  const chosen = encoders.find((e) => e.usable);
  let auto: ProbeReport['auto'];
  if (chosen) {
    auto = { encoder: 'v4l2m2m', device: chosen.device, reason: `${chosen.device} is a V4L2 M2M encoder with H.264 output` };
  } else if (!board) {
    auto = { encoder: 'openh264', device: null, reason: 'unknown board: software encoder' };
  } else if (board.encoders.length === 0) {
    auto = { encoder: 'openh264', device: null, reason: `${board.name} has no hardware H.264 encoder: software encoder` };
  } else {
    const why = encoders.map((e) => `${e.device}: ${e.detail}`).join('; ');
    auto = { encoder: 'openh264', device: null, reason: `no hardware encoder confirmed usable (${why}): software encoder` };
  }
  const wouldOpen: ProbeReport['wouldOpen'] = (board?.encoders ?? []).map((e) => ({
    encoder: 'v4l2m2m' as const,
    device: e.device,
    driver: e.driver,
    quirks: e.quirks,
    ...(e.controls ? { controls: e.controls } : {}),
    ...(e.align ? { align: e.align } : {}),
  }));
  wouldOpen.push({ encoder: 'openh264', note: wouldOpen.length ? 'if the hardware encoder does not open or gives no H.264' : 'software encoder' });
  let devices: V4l2Node[] | undefined;
  if (options.listDevices) {
    try {
      devices = options.listDevices();
    } catch {
      devices = undefined;
    }
  }
  return {
    board: board ? { id: board.id, name: board.name, ...(board.notes ? { notes: board.notes } : {}) } : null,
    detection: { reason, ...facts },
    encoders,
    cameras: (board?.cameras ?? []).map((c) => probeCamera(root, c)),
    auto,
    wouldOpen,
    ...(devices ? { devices } : {}),
    socTemperatureC: readTemperature(root, board),
  };
}
