/**
 * Laws of the packed words of an nftables program (program.ts), against their specification: a
 * verdict word holds an ActionOp in its low 4 bits, a flag in the fifth (VerdictBits.SERVICE_CHAIN,
 * clear in a word verdictWord makes) and its argument (a chain index below 2^26) above them; a map element's HINT holds the branch count, signed, in its high 16 bits and the
 * stride in its low 16, and is 0 (no hint) when either does not fit. The oracle is arithmetic on
 * the fields (multiplication and division by 2^k), not the shifts and masks the code uses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ActionOp, mapHint, VerdictBits, verdictWord } from '../../../src/compile/nftables/program.js';
import { runs } from '../../helpers/nat-assertions.js';

const kOps = [0, ActionOp.JUMP, ActionOp.GOTO, ActionOp.RETURN, ActionOp.ACCEPT, ActionOp.DROP, ActionOp.REJECT];

test('a verdict word gives back its op and its argument, for every argument below 2^26, its flag clear, and refuses one past it', () => {
  fc.assert(
    fc.property(fc.constantFrom(...kOps), fc.integer({ min: 0, max: 2 ** 26 - 1 }), (op, arg) => {
      const w = verdictWord(op, arg);
      assert.equal(w % 16, op, 'the op is the word mod 16');
      assert.equal(Math.floor(w / 16) % 2, 0, 'the flag (the fifth bit) is clear');
      assert.equal(Math.floor(w / 32), arg, 'the argument is the word over 32');
      assert.ok(w >= 0 && w < 2 ** 31, 'an int32 that is not negative');
      // The flag, set, leaves both as they were.
      const flagged = w + VerdictBits.SERVICE_CHAIN;
      assert.deepEqual([flagged & VerdictBits.OP_MASK, flagged >> VerdictBits.ARG_SHIFT], [op, arg]);
    }),
    { numRuns: runs(500) },
  );
  assert.equal(VerdictBits.SERVICE_CHAIN, 16, 'the flag is the fifth bit');
  assert.throws(() => verdictWord(ActionOp.GOTO, 2 ** 26), /does not fit a verdict word/);
  assert.throws(() => verdictWord(ActionOp.GOTO, -1), /does not fit a verdict word/);
});

test('a map hint gives back its count (signed) and its stride when both fit 16 bits, and is no hint otherwise', () => {
  fc.assert(
    fc.property(fc.integer({ min: -40000, max: 40000 }), fc.integer({ min: -5, max: 70000 }), (count, stride) => {
      const h = mapHint(count, stride);
      const fits = count !== 0 && count >= -32768 && count <= 32767 && stride >= 1 && stride <= 65535;
      if (!fits) {
        assert.equal(h, 0, `count ${count}, stride ${stride}: no hint`);
        return;
      }
      const low = ((h % 65536) + 65536) % 65536;
      assert.equal(low, stride, 'the stride is the low half');
      assert.equal((h - low) / 65536, count, 'the count is the high half, signed');
    }),
    { numRuns: runs(1000) },
  );
  assert.deepEqual([mapHint(32767, 65535) !== 0, mapHint(-32768, 1) !== 0, mapHint(32768, 1), mapHint(1, 65536), mapHint(0, 22)], [true, true, 0, 0, 0]);
});
