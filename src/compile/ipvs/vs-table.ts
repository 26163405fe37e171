/**
 * IPVS's service table: the kernel hashes virtual services by (protocol, address, port)
 * (ip_vs_svc_hashkey in ip_vs_ctl.c); kdp keeps the same key in an open-addressing table over
 * typed arrays with a power-of-two capacity and linear probing, so a lookup costs a handful of
 * probes however many services exist. Probes are returned so the caller can charge them as work.
 */
import { fmix32 } from '../../net/hash.js';

/** (port << 8 | protocol) is never 0 for a real key (protocol is 6, 17 or 132), so 0 marks empty. */
export function portProtoKey(proto: number, port: number): number {
  return ((port << 8) | (proto & 0xff)) >>> 0;
}

function nextPow2(n: number): number {
  let c = 16;
  while (c < n) c *= 2;
  return c;
}

export class VirtualServiceTable {
  readonly capacity: number;
  readonly mask: number;
  readonly keyIp: Uint32Array;
  readonly keyPortProto: Uint32Array;
  readonly value: Int32Array;
  size = 0;
  /** Probes of the last `find` (1 for a hit in its home slot). */
  lastProbes = 0;

  /** Sized for a load factor of at most 1/2, which keeps linear-probing chains short. */
  constructor(expected: number) {
    this.capacity = nextPow2(expected * 2);
    this.mask = this.capacity - 1;
    this.keyIp = new Uint32Array(this.capacity);
    this.keyPortProto = new Uint32Array(this.capacity);
    this.value = new Int32Array(this.capacity).fill(-1);
  }

  static hash(ip: number, portProto: number): number {
    return fmix32((ip ^ Math.imul(portProto, 0x9e3779b1)) >>> 0);
  }

  /** Inserts; returns the existing value when the key is already present (kernel: -EEXIST). */
  insert(ip: number, proto: number, port: number, value: number): number {
    const pp = portProtoKey(proto, port);
    let i = VirtualServiceTable.hash(ip >>> 0, pp) & this.mask;
    for (;;) {
      const k = this.keyPortProto[i];
      if (k === 0) {
        this.keyIp[i] = ip >>> 0;
        this.keyPortProto[i] = pp;
        this.value[i] = value;
        this.size++;
        return value;
      }
      if (k === pp && this.keyIp[i] === ip >>> 0) return this.value[i];
      i = (i + 1) & this.mask;
    }
  }

  /** Value for the key, or -1; sets `lastProbes`. Hot path: no allocation. */
  find(ip: number, proto: number, port: number): number {
    const pp = ((port << 8) | (proto & 0xff)) >>> 0;
    const keyIp = this.keyIp;
    const keyPP = this.keyPortProto;
    const mask = this.mask;
    const ip32 = ip >>> 0;
    let i = VirtualServiceTable.hash(ip32, pp) & mask;
    let probes = 1;
    for (;;) {
      const k = keyPP[i];
      if (k === 0) {
        this.lastProbes = probes;
        return -1;
      }
      if (k === pp && keyIp[i] === ip32) {
        this.lastProbes = probes;
        return this.value[i];
      }
      i = (i + 1) & mask;
      probes++;
    }
  }

  get bytes(): number {
    return this.keyIp.byteLength + this.keyPortProto.byteLength + this.value.byteLength;
  }
}

/** A set of IPv4 addresses (KUBE-IPVS-IPS: the addresses bound to kube-ipvs0). */
export class AddressSet {
  readonly mask: number;
  readonly keys: Uint32Array;
  readonly used: Uint8Array;
  size = 0;
  constructor(expected: number) {
    const cap = nextPow2(expected * 2);
    this.mask = cap - 1;
    this.keys = new Uint32Array(cap);
    this.used = new Uint8Array(cap);
  }
  add(ip: number): boolean {
    let i = fmix32(ip >>> 0) & this.mask;
    while (this.used[i] === 1) {
      if (this.keys[i] === ip >>> 0) return false;
      i = (i + 1) & this.mask;
    }
    this.used[i] = 1;
    this.keys[i] = ip >>> 0;
    this.size++;
    return true;
  }
  has(ip: number): boolean {
    let i = fmix32(ip >>> 0) & this.mask;
    while (this.used[i] === 1) {
      if (this.keys[i] === ip >>> 0) return true;
      i = (i + 1) & this.mask;
    }
    return false;
  }
  get bytes(): number {
    return this.keys.byteLength + this.used.byteLength;
  }
}
