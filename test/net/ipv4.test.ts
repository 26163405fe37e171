/**
 * CIDR arithmetic against address ranges: a block a.b.c.d/p is the 2^(32-p) addresses from its
 * base (RFC 4632 section 3.1), so two blocks share an address exactly when their ranges intersect.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { cidrSize, cidrsOverlap, parseCidr, parseIp, type Cidr } from '../../src/net/ipv4.js';
import { protoName } from '../../src/net/proto.js';
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
    // Only the digits 0-9 (code points 48-57) and dots: a character on either side of that range is refused.
    for (const bad of ['1..2.3', '.1.2.3', '1.2.3.', '1.2..3', '1.2.3.4.', '1.2.3', '256.0.0.1', '01.2.3.4', '1.2.3.4.5', '', '1.2.3.a', '1.2.3.4x', '1.2.3.4 ', '1.2.3./', '1.2.3.:', '1.2.3.-4'])
      assert.equal(parseIp(bad), -1, bad);
    assert.equal(parseIp('10.96.0.10'), 0x0a60000a);
    assert.equal(parseIp('255.255.255.255'), 0xffffffff);
    assert.equal(parseIp('0.0.0.0'), 0);
  });
});

describe('parseCidr and cidrSize', () => {
  it('takes a.b.c.d/p with p a decimal 0..32 and no host bits set (RFC 4632 section 3.1), and nothing else', () => {
    assert.deepEqual(parseCidr('10.244.0.0/16'), { base: 0x0af40000, prefix: 16 });
    assert.deepEqual(parseCidr('0.0.0.0/0'), { base: 0, prefix: 0 });
    assert.deepEqual(parseCidr('10.0.0.1/32'), { base: 0x0a000001, prefix: 32 });
    for (const bad of ['10.0.0.1/24', '10.0.0.0/33', '10.0.0.0/024', '10.0.0.0/240', '10.0.0.0/2x', '10.0.0.0/', '10.0.0.0', '10.0.0/8', '/8'])
      assert.equal(parseCidr(bad), undefined, bad);
  });

  it('a /p block holds 2^(32-p) addresses', () => {
    for (const [prefix, size] of [[32, 1], [31, 2], [24, 256], [16, 65536], [0, 2 ** 32]] as const) assert.equal(cidrSize({ base: 0, prefix }), size, `/${prefix}`);
  });
});

describe('protoName', () => {
  it('names TCP, UDP and SCTP as iptables\' -p does (6, 17, 132: IANA), any other protocol by its number', () => {
    assert.deepEqual([6, 17, 132, 1, 47, 0].map(protoName), ['tcp', 'udp', 'sctp', '1', '47', '0']);
  });
});
