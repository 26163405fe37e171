/**
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016) as IPVS's `mh` scheduler
 * (net/netfilter/ipvs/ip_vs_mh.c) fills its table: a lookup table of prime size M in which every
 * backend claims slots by walking its own permutation `(offset + j * skip) mod M`, `turns`
 * slots per round (weight / gcd of weights), round after round, until the table is full.
 *
 * Because every backend takes exactly `turns` slots per round, equal-weight backends end with
 * floor(M/N) or ceil(M/N) slots each: the paper's "within about 1 % when M > 100 N" holds with room
 * to spare. The hashes that place backends are kdp's own (fmix32 of address and port with two
 * seeds), not the kernel's siphash, so tables have the kernel's shape but not its exact contents.
 * Cilium's Maglev (its own hash, sort, weights and fill) is src/compile/cilium/maglev.ts.
 */
import { fmix32, mixPair } from '../../net/hash.js';
import { InvalidArgumentError } from '../../errors.js';

/** Katran's default and the size the paper recommends for a few hundred backends. Linux's
 * ip_vs_mh defaults to 4093 (CONFIG_IP_VS_MH_TAB_INDEX=12 picks primes[4]). */
export const kMaglevDefaultSize = 65537;
/** Linux's ip_vs_mh table: CONFIG_IP_VS_MH_TAB_INDEX = 12 selects 4093. */
export const kLinuxMhTableSize = 4093;

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}


/** Two independent hashes of a backend (ip, port): the paper's h1 (offset) and h2 (skip). */
function backendHash(ip: number, port: number, seed: number): number {
  return mixPair(fmix32((ip ^ seed) >>> 0), port + 1);
}

export interface MaglevBackends {
  readonly ip: ArrayLike<number>;
  readonly port: ArrayLike<number>;
  /** Optional weights (a backend with weight w takes w/gcd slots per round); 1 when absent. */
  readonly weight?: ArrayLike<number>;
  /** Range of rows to use: `[start, start + count)`. */
  readonly start: number;
  readonly count: number;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * Fills `out[outOffset .. outOffset + m)` with backend numbers in `[0, count)` (relative to
 * `start`); with no backends every slot is 0xffffffff. Compile-time only: allocates its cursors.
 */
export function maglevPopulate(b: MaglevBackends, m: number = kMaglevDefaultSize, out?: Uint32Array, outOffset = 0): Uint32Array {
  if (!isPrime(m)) throw new InvalidArgumentError(`options.mhTableSize must be prime, got ${m}`);
  const table = out ?? new Uint32Array(m);
  if (table.length < outOffset + m) throw new InvalidArgumentError('maglevPopulate: output too small');
  table.fill(0xffffffff, outOffset, outOffset + m);
  const n = b.count;
  if (n === 0) return table;
  const offset = new Float64Array(n);
  const skip = new Float64Array(n);
  const next = new Float64Array(n);
  const turns = new Uint32Array(n);
  let g = 0;
  for (let i = 0; i < n; i++) {
    const w = b.weight ? b.weight[b.start + i] : 1;
    g = gcd(g, w);
  }
  let active = 0;
  for (let i = 0; i < n; i++) {
    const ip = b.ip[b.start + i] >>> 0;
    const port = b.port[b.start + i];
    offset[i] = backendHash(ip, port, 0x2545f491) % m;
    skip[i] = (backendHash(ip, port, 0x6c8e9cf5) % (m - 1)) + 1;
    const w = b.weight ? b.weight[b.start + i] : 1;
    turns[i] = g === 0 ? 0 : w / g;
    if (turns[i] > 0) active++;
  }
  if (active === 0) return table;
  let filled = 0;
  for (;;) {
    for (let i = 0; i < n; i++) {
      for (let t = 0; t < turns[i]; t++) {
        let c = (offset[i] + next[i] * skip[i]) % m;
        while (table[outOffset + c] !== 0xffffffff) {
          next[i]++;
          c = (offset[i] + next[i] * skip[i]) % m;
        }
        table[outOffset + c] = i;
        next[i]++;
        if (++filled === m) return table;
      }
    }
  }
}

/** The slot a flow hash selects. */
export function maglevLookup(table: Uint32Array, outOffset: number, m: number, hash: number): number {
  return table[outOffset + ((hash >>> 0) % m)];
}
