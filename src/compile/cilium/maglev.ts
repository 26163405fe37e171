/**
 * Cilium's Maglev lookup table (pkg/maglev/maglev.go, Cilium v1.17), built as the agent builds it
 * so that kdp's table for a set of backends is the one a Cilium node would load into
 * `cilium_lb4_maglev` for the same backends, table size and hash seed:
 *
 * - each backend is named by its hash string `[<ip>:<port>/<PROTO>,State:active]` (the string
 *   `BackendInfo.setHashString` reproduces from `Backend.String()` and pins for upgrades);
 * - backends are sorted by that string (so every node builds the same table whatever its
 *   node-local backend IDs);
 * - MurmurHash3_x64_128 of the string with the seed's first four bytes gives (h1, h2):
 *   offset = h1 mod M, skip = h2 mod (M - 1) + 1, permutation j = (offset + j * skip) mod M;
 * - the fill takes turns n = 0 .. M-1, backend n mod N first, each claiming its next free slot;
 *   with weights (Cilium's default backend weight is 100, so always with equal weights) a backend
 *   whose `(n + 1) * weight` is below its counter passes its turn on, and a backend that takes a
 *   turn adds the sum of weights to its counter (Envoy's weighted Maglev, cilium/cilium#21335);
 * - slots hold backend IDs; the table size must be one of Cilium's primes.
 *
 * Maglev's promise (Eisenbud et al., NSDI 2016, §3.4): removing a backend moves the flows that
 * were on it, and only a small share of the others (about 1 % when M > 100 N).
 */
import { InvalidArgumentError } from '../../errors.js';
import { formatIp } from '../../net/ipv4.js';
import { murmur3x64128 } from '../../net/hash.js';
import { protocolName } from '../../model/types.js';
import { kMaglevTableSizes } from '../../model/read-config.js';
import type { Protocol } from '../../net/proto.js';

export { kMaglevTableSizes } from '../../model/read-config.js';
export const kDefaultMaglevTableSize = 16381;
/** `bpf-lb-maglev-hash-seed` default (pkg/maglev DefaultHashSeed): 12 bytes, base64. */
export const kDefaultMaglevHashSeed = 'JLfvgnHc2kaSUFaI';
/** pkg/loadbalancer DefaultBackendWeight: EndpointSlices carry no weight, so every backend has it. */
export const kDefaultBackendWeight = 100;
/** An empty slot while filling (and every slot of a service with no backend). */
export const kMaglevEmpty = 0xffffffff;

const kBase64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Standard base64 (with padding) to bytes, or null when the text is not base64. */
function base64Bytes(text: string): Uint8Array | null {
  if (text.length % 4 !== 0) return null;
  const out: number[] = [];
  for (let i = 0; i < text.length; i += 4) {
    let v = 0;
    let pad = 0;
    for (let j = 0; j < 4; j++) {
      const ch = text[i + j];
      if (ch === '=' && i + 4 === text.length && j >= 2) {
        pad++;
        v <<= 6;
        continue;
      }
      const d = kBase64.indexOf(ch);
      if (d < 0 || pad > 0) return null;
      v = (v << 6) | d;
    }
    out.push((v >>> 16) & 0xff);
    if (pad < 2) out.push((v >>> 8) & 0xff);
    if (pad < 1) out.push(v & 0xff);
  }
  return Uint8Array.from(out);
}

/** The three seeds Cilium derives from `bpf-lb-maglev-hash-seed` (pkg/maglev UserConfig.ToConfig). */
export interface MaglevSeeds {
  /** Bytes 0-3, big-endian: the murmur3 seed of backend placement. */
  readonly murmur: number;
  /** Bytes 4-7: HASH_INIT4_SEED, the jhash seed of an IPv4 flow's hash. */
  readonly jhash0: number;
  /** Bytes 8-11: HASH_INIT6_SEED. */
  readonly jhash1: number;
}

/** The seeds of a base64 seed string; a one-line reason when Cilium would refuse it. */
export function maglevSeeds(seed: string): MaglevSeeds | string {
  const d = base64Bytes(seed);
  if (!d) return `cannot decode base64 Maglev hash seed "${seed}"`;
  if (d.length !== 12) return `decoded hash seed is ${d.length} bytes (not 12 bytes)`;
  const be = (k: number): number => ((d[k] << 24) | (d[k + 1] << 16) | (d[k + 2] << 8) | d[k + 3]) >>> 0;
  return { murmur: be(0), jhash0: be(4), jhash1: be(8) };
}

/** The string Cilium hashes and sorts a backend by (pkg/maglev BackendInfo.setHashString), IPv4. */
export function backendHashString(ip: number, port: number, proto: Protocol): string {
  return `[${formatIp(ip)}:${port}/${protocolName(proto)},State:active]`;
}

export interface MaglevBackend {
  /** The backend ID written into the table. */
  readonly id: number;
  readonly ip: number;
  readonly port: number;
  readonly proto: Protocol;
  /** Default kDefaultBackendWeight. */
  readonly weight?: number;
}

/** A backend's place in the permutation: (offset, skip) from murmur3 of its hash string. */
export function offsetAndSkip(hashString: string, m: number, seed: number): [number, number] {
  const bytes = new Uint8Array(hashString.length);
  for (let i = 0; i < bytes.length; i++) bytes[i] = hashString.charCodeAt(i);
  const [h1, h2] = murmur3x64128(bytes, seed);
  const bm = BigInt(m);
  return [Number(h1 % bm), Number(h2 % (bm - 1n)) + 1];
}

/**
 * Fills `out[at .. at + m)` with the backend IDs of Cilium's Maglev table for `backends` (IPv4),
 * table size `m` and murmur seed `seed`; every slot is kMaglevEmpty when there is no backend.
 * Compile time only (it sorts, hashes and allocates per backend): O(M) turns plus the skipped
 * slots, about M ln M probes in all.
 */
export function ciliumMaglevTable(backends: readonly MaglevBackend[], m: number, seed: number, out: Uint32Array = new Uint32Array(m), at = 0): Uint32Array {
  if (!kMaglevTableSizes.includes(m)) {
    throw new InvalidArgumentError(`bpf-lb-maglev-table-size ${m} is not one Cilium supports (${kMaglevTableSizes.join(', ')})`);
  }
  out.fill(kMaglevEmpty, at, at + m);
  const l = backends.length;
  if (l === 0) return out;
  const named = backends.map((b) => ({ b, name: backendHashString(b.ip, b.port, b.proto) }));
  named.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  const pos = new Float64Array(l);
  const skip = new Float64Array(l);
  const weight = new Float64Array(l);
  const counter = new Float64Array(l);
  let weightSum = 0;
  for (let i = 0; i < l; i++) {
    const [o, s] = offsetAndSkip(named[i].name, m, seed);
    pos[i] = o;
    skip[i] = s;
    weight[i] = named[i].b.weight ?? kDefaultBackendWeight;
    weightSum += weight[i];
    counter[i] = weight[i] / l;
  }
  // Go's uint64 division: weights change the turns only when the mean weight exceeds 1.
  const weightsUsed = Math.floor(weightSum / l) > 1;
  for (let n = 0; n < m; n++) {
    let i = n % l;
    if (weightsUsed) {
      while ((n + 1) * weight[i] < Math.trunc(counter[i])) i = (i + 1) % l;
      counter[i] += weightSum;
    }
    let c = pos[i];
    while (out[at + c] !== kMaglevEmpty) {
      c += skip[i];
      if (c >= m) c -= m;
    }
    out[at + c] = named[i].b.id;
    c += skip[i];
    pos[i] = c >= m ? c - m : c;
  }
  return out;
}
