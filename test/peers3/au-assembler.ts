// Counts complete H.264 access units (RFC 6184, packetization-mode 1) from RTP packets that
// may arrive out of order, duplicated, or late because they were retransmitted after a NACK.
// (test/peers/h264-depacketizer.ts gives up on an access unit at the first gap, which is right
// for loopback but would count a repaired access unit as lost.)
//
// An access unit is the run of sequence numbers sharing one RTP timestamp and ending with the
// marker bit (RFC 6184 5.1). It is complete once its marker packet is in, every sequence number
// back to the previous access unit's last packet is in, and they all carry its timestamp.

export interface AuPacket {
  sequenceNumber: number;
  timestamp: number;
  marker: boolean;
  payload: Buffer;
}

export interface CompleteAu {
  timestamp: number;
  keyframe: boolean;
  /** SPS and PPS come before the first IDR slice. */
  parameterSetsFirst: boolean;
  packets: number;
}

interface Stored {
  timestamp: number;
  marker: boolean;
  /** nal_unit_type of each NAL unit this packet starts or carries whole. */
  nalTypes: number[];
  /** The packet begins a NAL unit (single NAL, STAP-A, FU-A with S bit). */
  startsNal: boolean;
}

export interface AssemblerStats {
  packets: number;
  duplicates: number;
  /** Packets that arrived after a higher sequence number (reordered or retransmitted). */
  late: number;
  complete: number;
  keyframes: number;
}

function nalInfo(payload: Buffer): { nalTypes: number[]; startsNal: boolean } {
  if (payload.length < 1) return { nalTypes: [], startsNal: false };
  const type = payload[0]! & 0x1f;
  if (type >= 1 && type <= 23) return { nalTypes: [type], startsNal: true };
  if (type === 24) {
    const types: number[] = [];
    let off = 1;
    while (off + 2 <= payload.length) {
      const size = payload.readUInt16BE(off);
      off += 2;
      if (size === 0 || off + size > payload.length) break;
      types.push(payload[off]! & 0x1f);
      off += size;
    }
    return { nalTypes: types, startsNal: true };
  }
  if (type === 28 && payload.length >= 2) {
    const start = (payload[1]! & 0x80) !== 0;
    return { nalTypes: start ? [payload[1]! & 0x1f] : [], startsNal: start };
  }
  return { nalTypes: [], startsNal: false };
}

export class AuAssembler {
  private readonly packets = new Map<number, Stored>();
  /** Extended sequence numbers of marker packets whose access unit is not complete yet. */
  private readonly pendingMarkers = new Set<number>();
  private readonly done = new Set<number>();
  private highest: number | null = null;
  private lowest: number | null = null;
  readonly stats: AssemblerStats = { packets: 0, duplicates: 0, late: 0, complete: 0, keyframes: 0 };
  readonly completed: CompleteAu[] = [];

  /** 16-bit sequence number -> extended, relative to the highest seen so far. */
  private extend(seq: number): number {
    if (this.highest === null) return seq + 0x10000 * 16;
    const base = this.highest - (this.highest & 0xffff);
    let ext = base + seq;
    if (ext - this.highest > 0x8000) ext -= 0x10000;
    else if (this.highest - ext > 0x8000) ext += 0x10000;
    return ext;
  }

  /** Adds a packet; returns the access units it completed (possibly more than one). */
  push(p: AuPacket): CompleteAu[] {
    const ext = this.extend(p.sequenceNumber);
    this.stats.packets++;
    if (this.packets.has(ext)) {
      this.stats.duplicates++;
      return [];
    }
    if (this.highest !== null && ext < this.highest) this.stats.late++;
    this.highest = this.highest === null ? ext : Math.max(this.highest, ext);
    this.lowest = this.lowest === null ? ext : Math.min(this.lowest, ext);
    this.packets.set(ext, { timestamp: p.timestamp, marker: p.marker, ...nalInfo(p.payload) });
    if (p.marker) this.pendingMarkers.add(ext);
    const out: CompleteAu[] = [];
    for (const m of [...this.pendingMarkers].sort((a, b) => a - b)) {
      const au = this.tryComplete(m);
      if (au) out.push(au);
    }
    this.prune();
    return out;
  }

  private tryComplete(marker: number): CompleteAu | null {
    const last = this.packets.get(marker);
    if (!last) return null;
    let s = marker;
    for (;;) {
      const prev = this.packets.get(s - 1);
      if (prev === undefined) {
        // Nothing before s: the session's first access unit starts with SPS (the engine sends an
        // IDR with parameter sets first); otherwise a packet is still missing.
        const first = this.packets.get(s)!;
        const isSessionStart = this.lowest !== null && s === this.lowest && first.startsNal && first.nalTypes[0] === 7;
        if (!isSessionStart) return null;
        break;
      }
      if (prev.timestamp !== last.timestamp) break;
      if (prev.marker) break; // two access units with one timestamp: the earlier one ends here
      s--;
    }
    if (!this.packets.get(s)!.startsNal) return null;
    const types: number[] = [];
    for (let q = s; q <= marker; q++) {
      const pk = this.packets.get(q)!;
      if (pk.timestamp !== last.timestamp) return null;
      types.push(...pk.nalTypes);
    }
    this.pendingMarkers.delete(marker);
    this.done.add(marker);
    const idr = types.indexOf(5);
    const au: CompleteAu = {
      timestamp: last.timestamp,
      keyframe: idr >= 0,
      parameterSetsFirst: idr >= 0 && types.slice(0, idr).includes(7) && types.slice(0, idr).includes(8),
      packets: marker - s + 1,
    };
    this.stats.complete++;
    if (au.keyframe) this.stats.keyframes++;
    this.completed.push(au);
    return au;
  }

  /** Forgets packets far behind the newest (a retransmission never comes that late). */
  private prune(): void {
    if (this.highest === null || this.packets.size < 4000) return;
    const floor = this.highest - 2000;
    for (const k of this.packets.keys()) if (k < floor) this.packets.delete(k);
    for (const m of this.pendingMarkers) if (m < floor) this.pendingMarkers.delete(m);
  }
}
