/**
 * The packet-flow runner (test/helpers/packet-flow.ts) can fail: every mode's flow table passes
 * only if a wrong row, or a decide() that strays from explain(), is reported. Each case feeds it one
 * deliberate mistake against a real compiled dataplane (iptables mode, the every-shape cluster)
 * and asserts the mismatch is named.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { VERDICT_DROP, type FirstPacket, type NatDecision } from '../../src/compile/dataplane.js';
import { compileDataplane } from '../../src/compile/index.js';
import { compiledFor, flowMismatches, type FlowCase, type FlowSetup } from '../helpers/packet-flow.js';
import { everyShapeCluster } from '../helpers/every-shape.js';

const cluster = everyShapeCluster();
const setup = compiledFor(cluster, 'iptables', 0);

/** A pod on node-1 to the web ClusterIP: two ready endpoints, in the order of the KUBE-SVC rules. */
const web: FlowCase = { name: 'pod to web', src: '10.244.1.99', dst: '10.96.0.10', port: 80, fromPod: true, verdict: 'dnat', endpoints: ['10.244.2.7:8080', '10.244.1.5:8080'], masq: false };

/** The real dataplane, with its decide() bent by `bend` after each decision. */
function bent(bend: (dp: ReturnType<typeof compileDataplane>, out: NatDecision, pkt: FirstPacket) => void): FlowSetup {
  return {
    cluster,
    dataplane: () => {
      const dp = compileDataplane(cluster, 'iptables', 0);
      return { mode: dp.mode, node: dp.node, explain: (pkt) => dp.explain(pkt), stats: () => dp.stats(), reset: () => dp.reset(), decide: (pkt, out) => bend(dp, out, pkt) };
    },
  };
}

const mismatches = (s: FlowSetup, row: FlowCase): string => flowMismatches(s, row).join('\n');

describe('the packet-flow runner', () => {
  it('passes a row the dataplane meets', () => {
    assert.deepEqual(flowMismatches(setup, web), []);
  });

  it('reports a wrong verdict', () => {
    assert.match(mismatches(setup, { ...web, verdict: 'drop', endpoints: [] }), /pod to web: explain verdict "dnat", want "drop"/);
  });

  it('reports a missing or extra endpoint', () => {
    assert.match(mismatches(setup, { ...web, endpoints: ['10.244.2.7:8080'] }), /explain endpoints \["10\.244\.2\.7:8080","10\.244\.1\.5:8080"\], want \["10\.244\.2\.7:8080"\]/);
    assert.match(mismatches(setup, { ...web, endpoints: [...web.endpoints!, '10.244.2.8:8080'] }), /explain endpoints/);
  });

  it('reports the right endpoints in the wrong rule order', () => {
    assert.match(mismatches(setup, { ...web, endpoints: [...web.endpoints!].reverse() }), /explain endpoints/);
  });

  it('reports a wrong masquerade', () => {
    assert.match(mismatches(setup, { ...web, masq: true }), /explain masquerade false, want true/);
  });

  it('reports a decide() that disagrees with explain() on the verdict', () => {
    const drops = bent((dp, out, pkt) => {
      dp.decide(pkt, out);
      out.verdict = VERDICT_DROP;
    });
    assert.match(mismatches(drops, web), /decide \(rand 0x[0-9a-f]+\) verdict "drop", want "dnat"/);
  });

  it('reports a decide() that never reaches some candidate', () => {
    const stuck = bent((dp, out, pkt) => dp.decide({ ...pkt, rand: 0 }, out));
    assert.match(mismatches(stuck, web), /endpoints no draw of decide reached \(of \d+\) \["10\.244\.[12]\.[57]:8080"\], want \[\]/);
  });

  it('reports a decide() that masquerades where explain() does not', () => {
    const masks = bent((dp, out, pkt) => {
      dp.decide(pkt, out);
      out.masquerade = true;
    });
    assert.match(mismatches(masks, web), /decide \(rand 0x[0-9a-f]+\) masquerade true, want false/);
  });

  it('reports a decide() whose DNAT target is not its endpoint', () => {
    const skewed = bent((dp, out, pkt) => {
      dp.decide(pkt, out);
      out.dnatPort = 9;
    });
    assert.match(mismatches(skewed, web), /DNAT target "10\.244\.[12]\.[57]:9", want "10\.244\.[12]\.[57]:8080"/);
  });
});
