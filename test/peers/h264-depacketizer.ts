// RTP -> H.264 access units for the viewers that hand us packets but do not decode
// (node-datachannel, werift). Implements the receive side of RFC 6184 for
// packetization-mode 1: single NAL unit packets (5.6), STAP-A (5.7.1) and FU-A (5.8).
// An access unit is the set of packets sharing one RTP timestamp; it is complete when its
// marker bit arrived and no sequence number inside it is missing (RFC 6184 5.1: the marker
// bit is set on the last packet of an access unit).

export interface RtpPacket {
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  marker: boolean;
  ssrc: number;
  payload: Buffer;
}

/** Parses one plain (already SRTP-decrypted) RTP packet; null for RTCP or anything else. */
export function parseRtp(buf: Buffer): RtpPacket | null {
  if (buf.length < 12) return null;
  const b0 = buf[0]!;
  const b1 = buf[1]!;
  if (b0 >> 6 !== 2) return null;
  // RFC 5761 4: payload types 64-95 on a muxed port are RTCP (packet types 192-223).
  if (b1 >= 192 && b1 <= 223) return null;
  const csrcCount = b0 & 0x0f;
  let offset = 12 + 4 * csrcCount;
  if (buf.length < offset) return null;
  if (b0 & 0x10) {
    if (buf.length < offset + 4) return null;
    const words = buf.readUInt16BE(offset + 2);
    offset += 4 + 4 * words;
    if (buf.length < offset) return null;
  }
  let end = buf.length;
  if (b0 & 0x20) {
    const pad = buf[buf.length - 1]!;
    if (pad === 0 || pad > end - offset) return null;
    end -= pad;
  }
  return {
    payloadType: b1 & 0x7f,
    sequenceNumber: buf.readUInt16BE(2),
    timestamp: buf.readUInt32BE(4),
    marker: (b1 & 0x80) !== 0,
    ssrc: buf.readUInt32BE(8),
    payload: buf.subarray(offset, end),
  };
}

export const NAL_IDR = 5;
export const NAL_SEI = 6;
export const NAL_SPS = 7;
export const NAL_PPS = 8;
const STAP_A = 24;
const FU_A = 28;

export interface AccessUnit {
  timestamp: number;
  /** NAL units of the access unit in decoding order, without start codes. */
  nalUnits: Buffer[];
  /** nal_unit_type of each NAL unit, same order. */
  nalTypes: number[];
  /** Contains an IDR slice. */
  keyframe: boolean;
  /** SPS and PPS both come before the first IDR slice (what a decoder needs to start). */
  parameterSetsFirst: boolean;
  /** Resolution from the SPS carried in this access unit, if any. */
  width?: number;
  height?: number;
}

export interface DepacketizerStats {
  packets: number;
  /** Complete access units. */
  accessUnits: number;
  keyframes: number;
  /** Access units dropped: a packet was lost, an FU-A was cut, or a payload was malformed. */
  incomplete: number;
  /** Packets of a payload type other than the one followed. */
  ignored: number;
  duplicates: number;
}

interface Pending {
  timestamp: number;
  nalUnits: Buffer[];
  broken: boolean;
  /** Bytes of the FU-A being reassembled. */
  fu: Buffer[] | null;
  fuHeader: number;
}

/**
 * Feeds RTP packets (in arrival order) and returns the access units they complete.
 * Packets are expected mostly in order, as on loopback; a gap marks the access unit it
 * falls in as incomplete rather than waiting for a reordered packet.
 */
export class H264Depacketizer {
  readonly stats: DepacketizerStats = {
    packets: 0,
    accessUnits: 0,
    keyframes: 0,
    incomplete: 0,
    ignored: 0,
    duplicates: 0,
  };
  private pending: Pending | null = null;
  private lastSeq: number | null = null;
  private readonly recentSeqs = new Set<number>();
  private readonly recentOrder: number[] = [];

  /** @param payloadType the negotiated H.264 payload type; undefined accepts any. */
  constructor(private payloadType?: number) {}

  setPayloadType(pt: number | undefined): void {
    this.payloadType = pt;
  }

  push(pkt: RtpPacket): AccessUnit[] {
    if (this.payloadType !== undefined && pkt.payloadType !== this.payloadType) {
      this.stats.ignored++;
      return [];
    }
    if (this.recentSeqs.has(pkt.sequenceNumber)) {
      this.stats.duplicates++;
      return [];
    }
    this.remember(pkt.sequenceNumber);
    this.stats.packets++;
    const out: AccessUnit[] = [];

    const gap = this.lastSeq !== null && pkt.sequenceNumber !== ((this.lastSeq + 1) & 0xffff);
    this.lastSeq = pkt.sequenceNumber;

    if (this.pending && this.pending.timestamp !== pkt.timestamp) {
      // The previous access unit never saw its marker bit: its last packet is lost.
      this.drop();
    }
    if (!this.pending) {
      this.pending = { timestamp: pkt.timestamp, nalUnits: [], broken: false, fu: null, fuHeader: 0 };
      // A gap right before a new timestamp may have eaten the start of this access unit.
      if (gap) this.pending.broken = true;
    } else if (gap) {
      this.pending.broken = true;
    }
    this.addPayload(this.pending, pkt.payload);

    if (pkt.marker) {
      const done = this.finish(this.pending);
      this.pending = null;
      if (done) out.push(done);
    }
    return out;
  }

  private remember(seq: number): void {
    this.recentSeqs.add(seq);
    this.recentOrder.push(seq);
    if (this.recentOrder.length > 512) this.recentSeqs.delete(this.recentOrder.shift()!);
  }

  private drop(): void {
    this.stats.incomplete++;
    this.pending = null;
  }

  private addPayload(au: Pending, payload: Buffer): void {
    if (payload.length < 1) {
      au.broken = true;
      return;
    }
    const header = payload[0]!;
    if (header & 0x80) {
      au.broken = true; // forbidden_zero_bit
      return;
    }
    const type = header & 0x1f;
    if (type >= 1 && type <= 23) {
      if (au.fu) au.broken = true; // an FU-A was not finished
      au.fu = null;
      au.nalUnits.push(payload);
    } else if (type === STAP_A) {
      if (au.fu) au.broken = true;
      au.fu = null;
      let off = 1;
      let count = 0;
      while (off + 2 <= payload.length) {
        const size = payload.readUInt16BE(off);
        off += 2;
        if (size === 0 || off + size > payload.length) {
          au.broken = true;
          return;
        }
        au.nalUnits.push(payload.subarray(off, off + size));
        off += size;
        count++;
      }
      if (off !== payload.length || count === 0) au.broken = true;
    } else if (type === FU_A) {
      if (payload.length < 3) {
        au.broken = true;
        return;
      }
      const fuHeader = payload[1]!;
      const start = (fuHeader & 0x80) !== 0;
      const end = (fuHeader & 0x40) !== 0;
      const data = payload.subarray(2);
      if (start) {
        if (au.fu) au.broken = true;
        // Rebuild the NAL header: F and NRI from the FU indicator, type from the FU header.
        au.fuHeader = (header & 0xe0) | (fuHeader & 0x1f);
        au.fu = [data];
      } else if (!au.fu) {
        au.broken = true; // middle or end without a start
        return;
      } else {
        au.fu.push(data);
      }
      if (end && au.fu) {
        au.nalUnits.push(Buffer.concat([Buffer.from([au.fuHeader]), ...au.fu]));
        au.fu = null;
      }
    } else {
      // STAP-B, MTAP, FU-B are not allowed in packetization-mode 1 (RFC 6184 Table 3).
      au.broken = true;
    }
  }

  private finish(au: Pending): AccessUnit | null {
    if (au.broken || au.fu || au.nalUnits.length === 0) {
      this.stats.incomplete++;
      return null;
    }
    const nalTypes = au.nalUnits.map((n) => n[0]! & 0x1f);
    const firstIdr = nalTypes.indexOf(NAL_IDR);
    const keyframe = firstIdr >= 0;
    const spsAt = nalTypes.indexOf(NAL_SPS);
    const ppsAt = nalTypes.indexOf(NAL_PPS);
    const parameterSetsFirst = keyframe && spsAt >= 0 && ppsAt >= 0 && spsAt < firstIdr && ppsAt < firstIdr;
    const result: AccessUnit = {
      timestamp: au.timestamp,
      nalUnits: au.nalUnits,
      nalTypes,
      keyframe,
      parameterSetsFirst,
    };
    if (spsAt >= 0) {
      const size = parseSpsResolution(au.nalUnits[spsAt]!);
      if (size) {
        result.width = size.width;
        result.height = size.height;
      }
    }
    this.stats.accessUnits++;
    if (keyframe) this.stats.keyframes++;
    return result;
  }
}

/** Removes emulation_prevention_three_byte (H.264 7.4.1). */
export function unescapeRbsp(nal: Buffer): Buffer {
  const out: number[] = [];
  let zeros = 0;
  for (const byte of nal) {
    if (zeros >= 2 && byte === 3) {
      zeros = 0;
      continue;
    }
    out.push(byte);
    zeros = byte === 0 ? zeros + 1 : 0;
  }
  return Buffer.from(out);
}

class BitReader {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}
  bit(): number {
    const byte = this.buf[this.pos >> 3];
    if (byte === undefined) throw new RangeError('SPS ends early');
    const v = (byte >> (7 - (this.pos & 7))) & 1;
    this.pos++;
    return v;
  }
  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      if (++zeros > 31) throw new RangeError('bad Exp-Golomb code');
    }
    return 2 ** zeros - 1 + this.bits(zeros);
  }
  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }
}

/** Picture size from a sequence parameter set NAL unit (H.264 7.3.2.1.1), cropping applied. */
export function parseSpsResolution(nal: Buffer): { width: number; height: number } | null {
  if (nal.length < 4 || (nal[0]! & 0x1f) !== NAL_SPS) return null;
  try {
    const r = new BitReader(unescapeRbsp(nal.subarray(1)));
    const profileIdc = r.bits(8);
    r.bits(16); // constraint flags, reserved bits, level_idc
    r.ue(); // seq_parameter_set_id
    let chromaFormatIdc = 1;
    let separateColourPlane = 0;
    if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profileIdc)) {
      chromaFormatIdc = r.ue();
      if (chromaFormatIdc === 3) separateColourPlane = r.bit();
      r.ue(); // bit_depth_luma_minus8
      r.ue(); // bit_depth_chroma_minus8
      r.bit(); // qpprime_y_zero_transform_bypass_flag
      if (r.bit()) {
        const lists = chromaFormatIdc === 3 ? 12 : 8;
        for (let i = 0; i < lists; i++) {
          if (r.bit()) {
            const size = i < 6 ? 16 : 64;
            let last = 8;
            let next = 8;
            for (let j = 0; j < size && next !== 0; j++) {
              next = (last + r.se() + 256) % 256;
              if (next !== 0) last = next;
            }
          }
        }
      }
    }
    r.ue(); // log2_max_frame_num_minus4
    const pocType = r.ue();
    if (pocType === 0) {
      r.ue();
    } else if (pocType === 1) {
      r.bit();
      r.se();
      r.se();
      const n = r.ue();
      if (n > 255) return null;
      for (let i = 0; i < n; i++) r.se();
    }
    r.ue(); // max_num_ref_frames
    r.bit(); // gaps_in_frame_num_value_allowed_flag
    const widthMbs = r.ue() + 1;
    const heightMapUnits = r.ue() + 1;
    const frameMbsOnly = r.bit();
    if (!frameMbsOnly) r.bit(); // mb_adaptive_frame_field_flag
    r.bit(); // direct_8x8_inference_flag
    let cropLeft = 0;
    let cropRight = 0;
    let cropTop = 0;
    let cropBottom = 0;
    if (r.bit()) {
      cropLeft = r.ue();
      cropRight = r.ue();
      cropTop = r.ue();
      cropBottom = r.ue();
    }
    const chromaArrayType = separateColourPlane ? 0 : chromaFormatIdc;
    const subWidthC = chromaArrayType === 1 || chromaArrayType === 2 ? 2 : 1;
    const subHeightC = chromaArrayType === 1 ? 2 : 1;
    const cropUnitX = chromaArrayType === 0 ? 1 : subWidthC;
    const cropUnitY = (chromaArrayType === 0 ? 1 : subHeightC) * (2 - frameMbsOnly);
    const width = widthMbs * 16 - cropUnitX * (cropLeft + cropRight);
    const height = (2 - frameMbsOnly) * heightMapUnits * 16 - cropUnitY * (cropTop + cropBottom);
    if (width <= 0 || height <= 0) return null;
    return { width, height };
  } catch {
    return null;
  }
}
