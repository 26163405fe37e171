/**
 * pcapng (draft-ietf-opsawg-pcapng): one Section Header Block, one Interface Description Block per
 * interface (LINKTYPE_ETHERNET, microsecond timestamps, `if_name` and `if_description`), then an
 * Enhanced Packet Block per packet with an `opt_comment`. Little-endian, as the byte-order magic
 * in the section header tells readers. Frames are written as captured (header bytes, then zeros
 * up to the wire length, as pcap.ts does), so every checksum verifies.
 */
import { InvalidArgumentError } from '../errors.js';
import { LINKTYPE_ETHERNET } from './pcap.js';

const BT_SHB = 0x0a0d0d0a;
const BT_IDB = 0x00000001;
const BT_EPB = 0x00000006;
const kByteOrderMagic = 0x1a2b3c4d;
const OPT_END = 0;
const OPT_COMMENT = 1;
const IF_NAME = 2;
const IF_DESCRIPTION = 3;
const IF_TSRESOL = 9;

export interface PcapngInterface {
  /** `if_name`: the interface as `ip link` names it (`eth0`, `cbr0`, `vxlan.calico`). */
  readonly name: string;
  /** `if_description`: where it is (the node, the pod). */
  readonly description: string;
}

export interface PcapngPacket {
  /** Index into the interfaces given to `writePcapng`. */
  readonly iface: number;
  readonly bytes: Uint8Array;
  /** Length on the wire; bytes past `bytes.length` are zeros. */
  readonly wireLen: number;
  readonly tsMicros: number;
  /** `opt_comment`: Wireshark shows it as the packet's comment. */
  readonly comment: string;
}

const utf8 = new TextEncoder();
const pad4 = (n: number): number => (n + 3) & ~3;

/** Options as pcapng lays them out: code, length, value padded to 4 bytes, then opt_endofopt. */
function optionsBytes(opts: readonly (readonly [number, Uint8Array])[]): Uint8Array {
  let len = 4;
  for (const [, v] of opts) len += 4 + pad4(v.length);
  const out = new Uint8Array(len);
  const dv = new DataView(out.buffer);
  let o = 0;
  for (const [code, v] of opts) {
    dv.setUint16(o, code, true);
    dv.setUint16(o + 2, v.length, true);
    out.set(v, o + 4);
    o += 4 + pad4(v.length);
  }
  dv.setUint16(o, OPT_END, true);
  dv.setUint16(o + 2, 0, true);
  return out;
}

/** A block: type, total length, the body (padded to 4), the total length again. */
function block(type: number, body: Uint8Array): Uint8Array {
  const total = 12 + pad4(body.length);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, type, true);
  dv.setUint32(4, total, true);
  out.set(body, 8);
  dv.setUint32(total - 4, total, true);
  return out;
}

function shb(): Uint8Array {
  const body = new Uint8Array(16);
  const dv = new DataView(body.buffer);
  dv.setUint32(0, kByteOrderMagic, true);
  dv.setUint16(4, 1, true); // major version
  dv.setUint16(6, 0, true); // minor version
  dv.setBigInt64(8, -1n, true); // section length: not given
  return block(BT_SHB, body);
}

function idb(i: PcapngInterface): Uint8Array {
  const opts = optionsBytes([[IF_NAME, utf8.encode(i.name)], [IF_DESCRIPTION, utf8.encode(i.description)], [IF_TSRESOL, Uint8Array.of(6)]]);
  const body = new Uint8Array(8 + opts.length);
  const dv = new DataView(body.buffer);
  dv.setUint16(0, LINKTYPE_ETHERNET, true);
  dv.setUint32(4, 0, true); // snaplen: no limit
  body.set(opts, 8);
  return block(BT_IDB, body);
}

function epb(p: PcapngPacket): Uint8Array {
  const cap = Math.max(p.wireLen, p.bytes.length);
  const opts = optionsBytes([[OPT_COMMENT, utf8.encode(p.comment)]]);
  const body = new Uint8Array(20 + pad4(cap) + opts.length);
  const dv = new DataView(body.buffer);
  const ts = BigInt(Math.round(p.tsMicros));
  dv.setUint32(0, p.iface, true);
  dv.setUint32(4, Number(ts >> 32n), true);
  dv.setUint32(8, Number(ts & 0xffffffffn), true);
  dv.setUint32(12, cap, true);
  dv.setUint32(16, p.wireLen, true);
  body.set(p.bytes, 20); // the rest up to cap stays zero: kdp's payload
  body.set(opts, 20 + pad4(cap));
  return block(BT_EPB, body);
}

/** A whole pcapng file: the section header, every interface, then the packets in order. */
export function writePcapng(interfaces: readonly PcapngInterface[], packets: readonly PcapngPacket[]): Uint8Array {
  for (const p of packets) {
    if (!Number.isInteger(p.iface) || p.iface < 0 || p.iface >= interfaces.length) throw new InvalidArgumentError(`packet interface ${p.iface} is not one of the ${interfaces.length} interfaces`);
  }
  const blocks = [shb(), ...interfaces.map(idb), ...packets.map(epb)];
  const out = new Uint8Array(blocks.reduce((n, b) => n + b.length, 0));
  let o = 0;
  for (const b of blocks) {
    out.set(b, o);
    o += b.length;
  }
  return out;
}
