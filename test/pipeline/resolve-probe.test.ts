/**
 * `kdp trace`'s packet spec (resolveProbe): where a packet starts, and every refusal, as a table.
 * The words are the contract a user reads: each refusal names the field, the value and the cure.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ENTRY_HOST } from '../../src/dataplane/pipeline.js';
import { resolveProbe, type ProbeSpec } from '../../src/dataplane/resolve.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { formatIp } from '../../src/net/ipv4.js';
import { twoNodes } from '../helpers/two-nodes.js';

const compiled = twoNodes('calico-vxlan');
const resolve = (spec: ProbeSpec) => resolveProbe(compiled.cluster, compiled.plan, spec);

const kRefused: readonly [string, ProbeSpec, string][] = [
  ['a pod spec without a name', { src: 'pod/default', dst: '10.96.0.30:80' }, 'source "pod/default" is not pod/NAMESPACE/NAME[:PORT]'],
  ['a pod spec with an empty name', { src: 'pod/default/', dst: '10.96.0.30:80' }, 'source "pod/default/" is not pod/NAMESPACE/NAME[:PORT]'],
  ['a pod the cluster file has not', { src: 'pod/default/nginx', dst: '10.96.0.30:80' }, 'source pod/default/nginx: no Pod default/nginx in the cluster file (pod/NAMESPACE/NAME needs Pod objects)'],
  ['a Service spec without a name', { src: '10.244.1.5', dst: 'svc/default' }, 'destination "svc/default" is not svc/NAMESPACE/NAME[:PORT]'],
  ['a Service the cluster file has not', { src: '10.244.1.5', dst: 'svc/default/api:80' }, 'destination svc/default/api:80: no Service default/api'],
  ['a Service port it does not have', { src: '10.244.1.5', dst: 'svc/default/np-cluster:https' }, "destination svc/default/np-cluster:https: no such port (the service's ports: http)"],
  ["node-1's address sent from --node node-2", { src: '192.168.0.11', dst: '10.96.0.30:80', node: 'node-2' }, 'source 192.168.0.11 is an address of node node-1, not of --node node-2'],
  ["node-2's address sent from --node node-1 (the first node)", { src: '192.168.0.12', dst: '10.96.0.30:80', node: 'node-1' }, 'source 192.168.0.12 is an address of node node-2, not of --node node-1'],
];

describe('kdp trace packet spec', () => {
  for (const [name, spec, message] of kRefused) {
    it(`refused: ${name}`, () => {
      assert.throws(() => resolve(spec), (e: unknown) => e instanceof InvalidArgumentError && e.message === message);
    });
  }

  it('a Service named without a port takes its port of the protocol; by name, that port', () => {
    for (const dst of ['svc/default/np-cluster', 'svc/default/np-cluster:http', 'svc/default/np-cluster:80']) {
      const p = resolve({ src: '10.244.1.5', dst });
      assert.equal(`${formatIp(p.dstIp)}:${p.dstPort}`, '10.96.0.30:80', dst);
    }
  });

  it("a node's own address starts on that node's host network, with or without --node naming it", () => {
    for (const node of [undefined, 'node-2']) {
      const p = resolve({ src: '192.168.0.12', dst: '10.96.0.30:80', ...(node ? { node } : {}) });
      assert.equal(p.entry, ENTRY_HOST);
      assert.equal(compiled.cluster.nodes[p.node].name, 'node-2');
    }
  });
});
