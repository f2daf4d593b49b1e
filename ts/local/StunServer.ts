import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { isIPv4 } from 'node:net';

/**
 * A minimal RFC 5389 STUN server: answers Binding requests with XOR-MAPPED-ADDRESS and
 * FINGERPRINT, ignores everything else. Enough for ICE to learn server-reflexive candidates
 * (on loopback, the same as the host ones) against the local service.
 */
export interface StunServerEvents {
  error: [err: Error];
  binding: [from: RemoteInfo];
}

const MAGIC_COOKIE = 0x2112a442;
const BINDING_REQUEST = 0x0001;
const BINDING_SUCCESS = 0x0101;
const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
const ATTR_FINGERPRINT = 0x8028;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = (CRC_TABLE[(c ^ b) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Builds the Binding success response for `request` seen from `from`; undefined if not a Binding request. */
export function stunBindingResponse(request: Buffer, from: { address: string; port: number }): Buffer | undefined {
  if (request.length < 20 || (request[0] ?? 0xff) & 0xc0) return undefined; // RFC 5389 6: top two bits zero
  if (request.readUInt16BE(0) !== BINDING_REQUEST || request.readUInt32BE(4) !== MAGIC_COOKIE) return undefined;
  if (request.readUInt16BE(2) + 20 !== request.length) return undefined;
  const transactionId = request.subarray(8, 20);
  const v4 = isIPv4(from.address);
  const addrLen = v4 ? 4 : 16;
  const xma = Buffer.alloc(4 + 4 + addrLen);
  xma.writeUInt16BE(ATTR_XOR_MAPPED_ADDRESS, 0);
  xma.writeUInt16BE(4 + addrLen, 2);
  xma.writeUInt8(0, 4);
  xma.writeUInt8(v4 ? 0x01 : 0x02, 5);
  xma.writeUInt16BE(from.port ^ (MAGIC_COOKIE >>> 16), 6);
  const mask = Buffer.concat([Buffer.alloc(4), transactionId]);
  mask.writeUInt32BE(MAGIC_COOKIE, 0);
  const raw = v4 ? Buffer.from(from.address.split('.').map(Number)) : ipv6Bytes(from.address);
  for (let i = 0; i < addrLen; i++) xma[8 + i] = (raw[i] ?? 0) ^ (mask[i] ?? 0);
  const header = Buffer.alloc(20);
  header.writeUInt16BE(BINDING_SUCCESS, 0);
  header.writeUInt16BE(xma.length + 8, 2);
  header.writeUInt32BE(MAGIC_COOKIE, 4);
  transactionId.copy(header, 8);
  const withoutFp = Buffer.concat([header, xma]);
  const fp = Buffer.alloc(8);
  fp.writeUInt16BE(ATTR_FINGERPRINT, 0);
  fp.writeUInt16BE(4, 2);
  fp.writeUInt32BE((crc32(withoutFp) ^ 0x5354554e) >>> 0, 4);
  return Buffer.concat([withoutFp, fp]);
}

function ipv6Bytes(addr: string): Buffer {
  const out = Buffer.alloc(16);
  const [head = '', tail = ''] = addr.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = addr.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16) || 0, i * 2));
  return out;
}

export class StunServer extends EventEmitter<StunServerEvents> {
  private socket: Socket | undefined;
  private boundPort = 0;

  constructor(private readonly host = '127.0.0.1') {
    super();
  }

  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `stun:${this.host}:${this.boundPort}`;
  }

  async start(port = 0): Promise<void> {
    const socket = createSocket(isIPv4(this.host) ? 'udp4' : 'udp6');
    socket.on('message', (msg, rinfo) => {
      const res = stunBindingResponse(msg, rinfo);
      if (!res) return;
      this.emit('binding', rinfo);
      socket.send(res, rinfo.port, rinfo.address);
    });
    // An ICMP-triggered send error must not end the service: report it to listeners, if any.
    socket.on('error', (err) => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, this.host, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    this.socket = socket;
    this.boundPort = socket.address().port;
  }

  async close(): Promise<void> {
    const s = this.socket;
    this.socket = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
