/**
 * Where a compile puts each chain of a ruleset (src/compile/nftables/program.ts compileProgram):
 * by structure with room (a port chain in its port's room, at its role's or its row's place), by
 * the ruleset's own name index for jumps (ruleset.ts chainIndex, which the builder hands over).
 * The oracle is the names: a chain's rules sit at the slot named as the chain is, a port chain
 * within its own port's room, and the builder's index says what the chains' order says.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { buildRuleset, compileNftables } from '../../../src/compile/nftables/index.js';
import { ChainWord, kRoomStride, ROOM_CHAIN, ROOM_CHAINS, ruleWords } from '../../../src/compile/nftables/program.js';
import { servicePortKey, servicePortKeyOfName } from '../../../src/compile/nftables/names.js';
import { chainIndex } from '../../../src/compile/nftables/ruleset.js';
import { generateCluster } from '../../../src/model/synthetic.js';

const kClusters = [
  { services: 40, endpoints: 4, nodes: 3, seed: 11 },
  { services: 300, endpoints: 10, nodes: 2, seed: 5 },
] as const;

test('nftables: the index a built ruleset keeps names every chain at its position, and nothing else', () => {
  for (const o of kClusters) {
    const cluster = generateCluster({ ...o, mode: 'nftables' });
    const rs = buildRuleset(cluster, { node: 0 });
    const index = chainIndex(rs);
    assert.equal(index.size, rs.chains.length);
    rs.chains.forEach((c, i) => assert.equal(index.get(c.name), i, c.name));
  }
});

test('nftables: with room, each chain\'s rules sit at the slot of its name, a port\'s chains in its own room', () => {
  for (const o of kClusters) {
    const cluster = generateCluster({ ...o, mode: 'nftables' });
    const portOfKey = new Map(cluster.ports.map((p) => [servicePortKey(cluster, p), p.index]));
    for (const node of [0, 1]) {
      const rs = buildRuleset(cluster, { node });
      const p = compileNftables(cluster, { node }).program;
      const slotOf = new Map<string, number>();
      p.chainNames.forEach((name, slot) => {
        if (name !== '') slotOf.set(name, slot);
      });
      let roomChains = 0;
      for (const c of rs.chains) {
        const slot = slotOf.get(c.name);
        assert.ok(slot !== undefined, `${c.name} has a slot`);
        const row = slot * ChainWord.STRIDE;
        assert.equal(p.chainLive[slot], 1, c.name);
        assert.equal(p.chainRows[row + ChainWord.RULE_COUNT], c.rules.length, c.name);
        assert.equal(p.chainRows[row + ChainWord.END] - p.chainRows[row + ChainWord.START], c.rules.reduce((n, r) => n + ruleWords(r), 0), c.name);
        const key = servicePortKeyOfName(c.name);
        if (key === '') {
          assert.ok(slot < p.fixedChains, `${c.name}: a fixed chain before every room`);
          continue;
        }
        const port = portOfKey.get(key)!;
        const w = port * kRoomStride;
        assert.ok(slot >= p.room![w + ROOM_CHAIN] && slot < p.room![w + ROOM_CHAIN] + p.room![w + ROOM_CHAINS], `${c.name} in port ${port}'s room`);
        roomChains++;
      }
      assert.ok(roomChains > rs.chains.length / 2, 'most chains are a port\'s');
    }
  }
});
