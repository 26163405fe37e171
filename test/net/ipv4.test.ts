/**
 * CIDR arithmetic against address ranges: a block a.b.c.d/p is the 2^(32-p) addresses from its
 * base (RFC 4632 section 3.1), so two blocks share an address exactly when their ranges intersect.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { cidrsOverlap, parseIp, type Cidr } from '../../src/net/ipv4.js';
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

describe('parseIp', () => {
  it('takes four dot-separated decimal octets 0..255 and nothing else', () => {
    // RFC 3986 section 3.2.2, IPv4address = dec-octet "." dec-octet "." dec-octet "." dec-octet, a
    // dec-octet being 0..255 without leading zeros: an empty octet (leading, doubled or trailing dot) is malformed.
    for (const bad of ['1..2.3', '.1.2.3', '1.2.3.', '1.2..3', '1.2.3.4.', '1.2.3', '256.0.0.1', '01.2.3.4', '1.2.3.4.5', ''])
      assert.equal(parseIp(bad), -1, bad);
    assert.equal(parseIp('10.96.0.10'), 0x0a60000a);
    assert.equal(parseIp('255.255.255.255'), 0xffffffff);
    assert.equal(parseIp('0.0.0.0'), 0);
  });
});
