import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import {
  csumFold,
  csumPartial,
  csumReplace2,
  csumReplace4,
  internetChecksum,
  pseudoHeaderSum,
} from '../../src/net/checksum.js';
import { crc32c, crc32cUpdate, crc32cZeros } from '../../src/net/crc32c.js';
import { Prng } from '../../src/model/prng.js';
import { refChecksum, refCrc32c } from './reference.js';

const hex = (s: string): Uint8Array => Uint8Array.from(s.match(/../g)!.map((h) => parseInt(h, 16)));

describe('Internet checksum (RFC 1071)', () => {
  it('matches the RFC 1071 section 3 example (sum ddf2)', () => {
    const b = hex('0001f203f4f5f6f7');
    assert.equal(csumFold(csumPartial(b, 0, b.length, 0)), 0xddf2);
    assert.equal(internetChecksum(b, 0, b.length), 0x220d);
  });

  it('gives a known IPv4 header checksum, and 0 over a header that verifies', () => {
    const h = hex('450000730000400040110000c0a80001c0a800c7');
    assert.equal(internetChecksum(h, 0, 20), 0xb861);
    h[10] = 0xb8;
    h[11] = 0x61;
    assert.equal(internetChecksum(h, 0, 20), 0);
  });

  it('pads an odd trailing byte with zero and honours the offset', () => {
    const b = hex('ff0102030405ab');
    assert.equal(internetChecksum(b, 1, 5), refChecksum([1, 2, 3, 4, 5]));
    assert.equal(internetChecksum(b, 1, 5), ~(0x0102 + 0x0304 + 0x0500) & 0xffff);
  });

  it('equals the naive reference on random buffers', () => {
    const rng = new Prng(1071);
    for (let n = 0; n < 200; n++) {
      const b = Uint8Array.from({ length: rng.below(300) }, () => rng.below(256));
      assert.equal(internetChecksum(b, 0, b.length), refChecksum(b));
    }
  });

  it('adds the pseudo-header as its six 16-bit words', () => {
    const b = hex('0a0000010a000002' + '0006' + '0014');
    assert.equal(csumFold(pseudoHeaderSum(0x0a000001, 0x0a000002, 6, 20)), csumFold(csumPartial(b, 0, 12, 0)));
  });
});

describe('incremental update (RFC 1624)', () => {
  it('csumReplace2/csumReplace4 equal a full recompute after random field rewrites', () => {
    const rng = new Prng(1624);
    for (let n = 0; n < 5000; n++) {
      const len = 6 + 2 * rng.below(30);
      const b = Uint8Array.from({ length: len }, () => rng.below(256));
      b[len - 1] |= 1; // the last word is never rewritten, so data is never all zero (two zeros in ones' complement)
      const at = 2 * rng.below(len / 2 - 1);
      const check = internetChecksum(b, 0, len);
      if (rng.below(2) === 0) {
        const from = (b[at] << 8) | b[at + 1];
        const to = rng.below(65536);
        b[at] = to >>> 8;
        b[at + 1] = to & 255;
        assert.equal(csumReplace2(check, from, to), internetChecksum(b, 0, len));
      } else {
        const o = 2 * rng.below(len / 2 - 2); // any 16-bit aligned 32-bit field
        const from = ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
        const to = rng.nextU32();
        b[o] = to >>> 24;
        b[o + 1] = (to >>> 16) & 255;
        b[o + 2] = (to >>> 8) & 255;
        b[o + 3] = to & 255;
        assert.equal(csumReplace4(check, from, to), internetChecksum(b, 0, len));
      }
    }
  });

  it('csumReplace2 equals a full recompute for every 16-bit new value, the end-around carry of a carry included', () => {
    // Exhaustive over the new field: a random sample almost never reaches ~check + ~from + to =
    // 0x1ffff, the one sum whose first fold (0x10000) carries again (RFC 1071 section 2's
    // end-around carry, folded until none is left). [0x0000, 0x0001] rewritten to [0xffff, 0x0001]
    // is that sum, and its checksum is ~1 = 0xfffe.
    const rng = new Prng(1141);
    const buffers = [hex('00000001'), ...Array.from({ length: 3 }, () => Uint8Array.from({ length: 10 }, () => rng.below(256)).map((v, k) => (k === 9 ? v | 1 : v)))];
    for (const b of buffers) {
      const from = (b[0] << 8) | b[1];
      const check = internetChecksum(b, 0, b.length);
      for (let to = 0; to < 65536; to++) {
        b[0] = to >>> 8;
        b[1] = to & 255;
        const want = internetChecksum(b, 0, b.length);
        if (csumReplace2(check, from, to) !== want) assert.fail(`[${[...b].map((v) => v.toString(16).padStart(2, '0')).join('')}] from ${from} to ${to}: ${csumReplace2(check, from, to)} != ${want}`);
      }
    }
    assert.equal(csumReplace2(0xfffe, 0x0000, 0xffff), 0xfffe);
  });

  it('is the identity when the field does not change', () => {
    assert.equal(csumReplace4(0x1234, 0xc0a80001, 0xc0a80001), 0x1234);
    assert.equal(csumReplace2(0xb861, 80, 80), 0xb861);
  });
});

describe('CRC32c (RFC 3309 / RFC 3720 B.4)', () => {
  it('matches the standard check value and the iSCSI vectors', () => {
    assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
    assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
    assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
    assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
  });

  it('equals the bitwise reference at every length and alignment, and over implicit zeros', () => {
    const rng = new Prng(3309);
    for (let n = 0; n < 300; n++) {
      const b = Uint8Array.from({ length: rng.below(100) }, () => rng.below(256));
      const off = rng.below(Math.max(1, b.length));
      const len = b.length - off;
      const zeros = rng.below(40);
      const full = new Uint8Array(len + zeros);
      full.set(b.subarray(off));
      assert.equal(crc32c(b, off, len, zeros), refCrc32c(full));
      assert.equal(crc32c(b, off), refCrc32c(b.subarray(off)), 'the length defaults to the rest of the buffer');
      assert.equal(~crc32cZeros(crc32cUpdate(0xffffffff, b, off, len), zeros) >>> 0, refCrc32c(full));
    }
  });

  it('skips long zero runs (the tabulated 2^k operators, and past them) exactly as feeding zeros does', () => {
    const rng = new Prng(4960);
    const zeros = new Uint8Array(1 << 21);
    for (const n of [1, 2, 3, 255, 256, 1400, 1461, 65535, 65536, 70001, (1 << 20) - 1, 1 << 20, (1 << 21) - 3]) {
      const reg = rng.nextU32();
      assert.equal(crc32cZeros(reg, n), crc32cUpdate(reg, zeros, 0, n), `n = ${n}`);
    }
  });
});
