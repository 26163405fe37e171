/**
 * CIDR arithmetic against address ranges: a block a.b.c.d/p is the 2^(32-p) addresses from its
 * base (RFC 4632 section 3.1), so two blocks share an address exactly when their ranges intersect.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { cidrsOverlap, type Cidr } from '../../src/net/ipv4.js';
import { Prng } from '../../src/model/prng.js';

/** A random block, its base aligned to its prefix; bases drawn near each other so that some overlap. */
function block(rng: Prng): Cidr {
  const prefix = 8 + rng.below(25);
  const size = 2 ** (32 - prefix);
  const base = 0x0a000000 + Math.floor(rng.below(1 << 16) * 256 / size) * size;
  return { base: base >>> 0, prefix };
}

describe('cidrsOverlap', () => {
  it('is true exactly when the two address ranges intersect', () => {
    const rng = new Prng(4632);
    let overlapping = 0;
    for (let n = 0; n < 5000; n++) {
      const a = block(rng);
      const b = block(rng);
      const [aLo, bLo] = [a.base, b.base];
      const [aHi, bHi] = [aLo + 2 ** (32 - a.prefix) - 1, bLo + 2 ** (32 - b.prefix) - 1];
      const want = aLo <= bHi && bLo <= aHi;
      if (want) overlapping++;
      assert.equal(cidrsOverlap(a, b), want, `${JSON.stringify(a)} ${JSON.stringify(b)}`);
    }
    assert.ok(overlapping > 100 && overlapping < 4900, `both answers drawn (${overlapping} of 5000 overlap)`);
  });
});
