import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { loadCluster } from '../../src/model/load.js';
import { formatIp } from '../../src/net/ipv4.js';
import { fixturePath } from '../helpers/cluster.js';

describe('the small fixture', () => {
  const fromYaml = loadCluster(readFileSync(fixturePath('small-cluster.yaml'), 'utf8'), 'small-cluster.yaml');
  const fromJson = loadCluster(readFileSync(fixturePath('small-cluster.json'), 'utf8'), 'small-cluster.json');

  it('loads from YAML and JSON without diagnostics', () => {
    assert.deepEqual(fromYaml.diagnostics, []);
    assert.deepEqual(fromJson.diagnostics, []);
  });

  it('gives the same model from both', () => {
    assert.deepEqual(fromJson.cluster, fromYaml.cluster);
  });

  it('joins endpoints to their service ports in kube-proxy order', () => {
    const c = fromYaml.cluster!;
    const web = c.services.find((s) => s.name === 'web')!;
    const port = c.ports[web.ports[0]];
    const rows = Array.from({ length: port.endpointCount }, (_, i) => port.endpointStart + i);
    assert.deepEqual(rows.map((r) => `${formatIp(c.endpoints.ip[r])}:${c.endpoints.port[r]}`), ['10.244.1.5:8080', '10.244.2.7:8080', '10.244.2.8:8080']);
    assert.equal(c.nodes[c.endpoints.node[rows[0]]].name, 'node-1');
  });
});
