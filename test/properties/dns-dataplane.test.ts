/**
 * Law: every name a pod may use for a Service (`svc`, `svc.ns`, `svc.ns.svc`, the FQDN, the FQDN
 * with its dot), looked up with real DNS packets through the mode's rules to a CoreDNS endpoint
 * and back, gives the address the Kubernetes DNS specification gives (a ClusterIP Service's
 * ClusterIP; one of a headless Service's ready endpoints), and a connection to it then reaches
 * one of that Service's ready endpoints through the same dataplane. In every mode, any CNI, with
 * CoreDNS on any node.
 *
 * The oracle is the random cluster's own spec (which Service has which address and endpoints),
 * not the zone or the compiled rules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { modeNames } from '../../src/compile/index.js';
import { CompiledCluster } from '../../src/dataplane/compiled-cluster.js';
import { PipelineContext } from '../../src/dataplane/context.js';
import { traceLookup } from '../../src/dataplane/dns-lookup.js';
import { ENTRY_POD } from '../../src/dataplane/pipeline.js';
import { tracePacket } from '../../src/dataplane/trace.js';
import { formatIp, parseIp } from '../../src/net/ipv4.js';
import { PROTO_SCTP, PROTO_TCP, PROTO_UDP } from '../../src/net/proto.js';
import {
  clientPodIp,
  clusterIp,
  clusterObjects,
  clusterSpecArb,
  describeCluster,
  effectiveService,
  endpointIp,
  nodeName,
  servicePortNumber,
  targetPortNumber,
  type ClusterSpec,
} from '../helpers/arbitraries.js';
import { clusterOf, service, slice } from '../helpers/cluster.js';
import { runs } from '../helpers/nat-assertions.js';

const kDnsIp = '10.96.0.250';
const kForms = ['svc', 'svc.ns', 'svc.ns.svc', 'fqdn', 'fqdn.'] as const;

interface Case {
  readonly spec: ClusterSpec;
  readonly mode: string;
  readonly target: number;
  readonly form: (typeof kForms)[number];
  readonly clientNode: number;
  readonly corednsNodes: readonly number[];
}

const caseArb: fc.Arbitrary<Case> = clusterSpecArb({ maxServices: 3 }).chain((spec) =>
  fc.record({
    spec: fc.constant(spec),
    mode: fc.constantFrom(...modeNames()),
    target: fc.integer({ min: 0, max: spec.services.length - 1 }),
    form: fc.constantFrom(...kForms),
    clientNode: fc.integer({ min: 0, max: spec.nodes - 1 }),
    corednsNodes: fc.uniqueArray(fc.integer({ min: 0, max: spec.nodes - 1 }), { minLength: 1, maxLength: 2 }),
  }),
);

function nameOf(form: Case['form'], svc: string): string {
  switch (form) {
    case 'svc':
      return svc;
    case 'svc.ns':
      return `${svc}.default`;
    case 'svc.ns.svc':
      return `${svc}.default.svc`;
    case 'fqdn':
      return `${svc}.default.svc.cluster.local`;
    default:
      return `${svc}.default.svc.cluster.local.`;
  }
}

test('law: a Service looked up by any of its names, over the dataplane, is reached at one of its ready endpoints', () => {
  let checked = 0;
  fc.assert(
    fc.property(caseArb, (c) => {
      const s = effectiveService(c.spec.services[c.target]);
      const ready = s.endpoints.map((e, k) => ({ e, k })).filter(({ e }) => e.state === 'ready');
      // A name with something to reach: a ClusterIP-bearing or headless Service with a ready endpoint the pod may use.
      // Cilium leaves SCTP ports out of its maps (difference C-D8 of the cross-mode table), so a
      // ClusterIP's SCTP port is not served there.
      const sctpInCilium = c.mode === 'cilium' && s.kind !== 'Headless' && s.ports[0].sctp === true;
      fc.pre(s.kind !== 'ExternalName' && ready.length > 0 && !s.internalLocal && !sctpInCilium);
      const objects = clusterObjects(c.spec);
      objects.push(
        service('kube-system', 'kube-dns', { clusterIP: kDnsIp, ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] }),
        slice('kube-system', 'kube-dns', [{ name: 'dns', port: 53, protocol: 'UDP' }], c.corednsNodes.map((n) => ({ ip: `10.244.${n + 1}.2`, node: nodeName(n) }))),
        { apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'default', name: 'client' }, spec: { nodeName: nodeName(c.clientNode) }, status: { podIP: formatIp(clientPodIp(c.clientNode, 0)) } },
      );
      const cluster = clusterOf(...objects);
      const ctx = new PipelineContext(new CompiledCluster(cluster, c.mode as never), { seed: 7 });
      const pod = cluster.pods.find((p) => p.name === 'client')!;
      const name = nameOf(c.form, `svc-${c.target}`);
      const { resolution, dns } = traceLookup(ctx, pod, name);
      const corednsAt = c.corednsNodes.map((n) => `10.244.${n + 1}.2:53`);
      const where = `${c.mode}, ${name}, ${describeCluster(c.spec)}`;
      assert.ok(dns.length > 0 && dns.every((q) => q.deliveredTo !== null && corednsAt.includes(q.deliveredTo)), `every query reaches a CoreDNS endpoint: ${where}`);

      const readyIps = ready.map(({ e, k }) => endpointIp(e.node % c.spec.nodes, c.target, k));
      const address = parseIp(resolution.report.address ?? '');
      if (s.kind === 'Headless') assert.ok(readyIps.includes(address), `a headless name gives a ready endpoint, got ${resolution.report.address}: ${where}`);
      else assert.equal(address, clusterIp(c.target), `the ClusterIP: ${where}`);

      const port = s.ports[0];
      const proto = port.sctp ? PROTO_SCTP : port.udp ? PROTO_UDP : PROTO_TCP;
      const dstPort = s.kind === 'Headless' ? targetPortNumber(0) : servicePortNumber(0);
      const r = tracePacket(ctx, { proto, srcIp: pod.ip, srcPort: 40000, dstIp: address, dstPort, node: pod.node, entry: ENTRY_POD }).result;
      const reached = r.hops.at(-1)!.dst;
      assert.equal(r.verdict, 'delivered', `the connection is delivered: ${where}`);
      assert.ok(readyIps.map((ip) => `${formatIp(ip)}:${targetPortNumber(0)}`).includes(reached), `at a ready endpoint, not ${reached}: ${where}`);
      checked++;
    }),
    { numRuns: runs(60), ...(process.env.KDP_SEED ? { seed: Number(process.env.KDP_SEED), path: process.env.KDP_PATH } : {}) },
  );
  assert.ok(checked >= runs(60) / 3, `enough cases reached the assertions (${checked})`);
});
