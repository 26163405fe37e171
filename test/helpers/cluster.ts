/**
 * Small clusters for tests, built from Kubernetes objects the way a user writes them, so that
 * every test exercises the real loader.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { clusterFromObjects, loadClusterOrThrow } from '../../src/model/load.js';
import type { Cluster } from '../../src/model/types.js';

/** Path of a file in test/fixtures (tests run from dist/test, fixtures stay in the source tree). */
export function fixturePath(name: string): string {
  return fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url));
}

export function loadFixture(name: string): Cluster {
  return loadClusterOrThrow(readFileSync(fixturePath(name), 'utf8'), name);
}

export function clusterOf(...objects: unknown[]): Cluster {
  return clusterFromObjects(objects);
}

export function node(name: string, podCIDR: string, internalIP: string, zone = ''): object {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, ...(zone ? { labels: { 'topology.kubernetes.io/zone': zone } } : {}) },
    spec: { podCIDR },
    status: { addresses: [{ type: 'InternalIP', address: internalIP }] },
  };
}

export function service(namespace: string, name: string, spec: Record<string, unknown>, status: Record<string, unknown> = {}): object {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace, name }, spec, status };
}

export interface SliceEndpoint {
  ip: string;
  node?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

let sliceCount = 0;

export function slice(
  namespace: string,
  serviceName: string,
  ports: { name?: string; port: number; protocol?: string }[],
  endpoints: SliceEndpoint[],
  name = `${serviceName}-${(sliceCount++).toString(36).padStart(5, '0')}`,
): object {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace, name, labels: { 'kubernetes.io/service-name': serviceName } },
    addressType: 'IPv4',
    ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      conditions: {
        ready: e.ready ?? true,
        ...(e.serving !== undefined ? { serving: e.serving } : {}),
        ...(e.terminating !== undefined ? { terminating: e.terminating } : {}),
      },
      ...(e.node ? { nodeName: e.node } : {}),
    })),
  };
}

export function proxyConfig(config: Record<string, unknown>): object {
  return { apiVersion: 'kubeproxy.config.k8s.io/v1alpha1', kind: 'KubeProxyConfiguration', ...config };
}

export function clusterNetwork(spec: Record<string, unknown>): object {
  return { apiVersion: 'kdp.dev/v1alpha1', kind: 'ClusterNetwork', metadata: { name: 'cluster' }, spec };
}
