/**
 * EndpointSlices (discovery.k8s.io/v1), and legacy v1 Endpoints converted to the same shape, as
 * kube-proxy's EndpointSliceCache reads them: a slice belongs to the service named by its
 * `kubernetes.io/service-name` label, only an endpoint's first address is used, and a missing
 * `ready` condition means ready (a missing `serving` means the same as `ready`).
 */
import { FieldReader, isDnsLabel, type Json } from './fields.js';
import { readProtocol } from './read-workloads.js';
import { EP_READY, EP_SERVING, EP_TERMINATING } from './types.js';
import type { Protocol } from '../net/proto.js';

export interface RawSlicePort {
  readonly name: string;
  readonly port: number;
  readonly protocol: Protocol;
}

export interface RawEndpoint {
  readonly ip: number;
  /** Every address, the first included: cluster DNS answers them all, kube-proxy only the first. */
  readonly ips: number[];
  /** `hostname`, which names the endpoint under a headless Service; '' when absent. */
  readonly hostname: string;
  readonly conditions: number;
  readonly nodeName: string;
  readonly zone: string;
}

/** `hostname` must be a DNS-1123 label (the API server validates it); reports and returns '' otherwise. */
function readHostname(r: FieldReader, value: unknown, path: (string | number)[]): string {
  const h = r.string(value, path);
  if (h && !isDnsLabel(h)) {
    r.error(path, `"${h}" is not a DNS label (lower-case letters, digits and '-', at most 63 characters)`);
    return '';
  }
  return h;
}

export interface RawSlice {
  /** `namespace/name` of the owning service. */
  readonly service: string;
  readonly ports: RawSlicePort[];
  readonly endpoints: RawEndpoint[];
  readonly reader: FieldReader;
  readonly legacy: boolean;
  /** Field path of endpoint i's address, built only when a message needs it. */
  addressPath(i: number): (string | number)[];
}

export const kServiceNameLabel = 'kubernetes.io/service-name';

export function readEndpointSlice(r: FieldReader, obj: Json, namespace: string): RawSlice | undefined {
  const meta = r.record(obj.metadata, ['metadata']);
  const labels = r.record(meta.labels, ['metadata', 'labels']);
  const service = labels[kServiceNameLabel];
  if (typeof service !== 'string' || service === '') {
    r.warn(['metadata', 'labels'], `has no "${kServiceNameLabel}" label, so no service uses it (kube-proxy ignores it too)`);
    return undefined;
  }
  const addressType = r.string(obj.addressType, ['addressType']);
  if (addressType === 'IPv6') {
    r.error(['addressType'], 'addressType IPv6: IPv6 is not supported yet');
    return undefined;
  }
  if (addressType !== 'IPv4') {
    // FQDN slices are never programmed by kube-proxy.
    r.warn(['addressType'], `addressType ${JSON.stringify(obj.addressType)} is not programmed by kube-proxy; skipped`);
    return undefined;
  }
  const ports: RawSlicePort[] = [];
  r.array(obj.ports, ['ports']).forEach((v, i) => {
    const p = r.record(v, ['ports', i]);
    // kube-proxy skips slice ports with no number (a service port the controller could not resolve).
    if (p.port === undefined || p.port === null) return;
    ports.push({
      name: r.string(p.name, ['ports', i, 'name']),
      port: r.port(p.port, ['ports', i, 'port']),
      protocol: readProtocol(r, p.protocol, ['ports', i, 'protocol']),
    });
  });
  const endpoints: RawEndpoint[] = [];
  let hinted = -1;
  r.array(obj.endpoints, ['endpoints']).forEach((v, i) => {
    const path = ['endpoints', i];
    const e = r.record(v, path);
    if (hinted < 0 && e.hints !== undefined) hinted = i;
    const addresses = r.array(e.addresses, [...path, 'addresses']);
    if (addresses.length === 0) {
      r.error([...path, 'addresses'], 'an endpoint needs at least one address');
      return;
    }
    const ip = r.ip(addresses[0], [...path, 'addresses', 0]);
    if (ip < 0) return;
    const ips = [ip];
    for (let k = 1; k < addresses.length; k++) {
      const more = r.ip(addresses[k], [...path, 'addresses', k]);
      if (more >= 0) ips.push(more);
    }
    const c = r.record(e.conditions, [...path, 'conditions']);
    const ready = r.bool(c.ready, [...path, 'conditions', 'ready'], true);
    const serving = r.bool(c.serving, [...path, 'conditions', 'serving'], ready);
    const terminating = r.bool(c.terminating, [...path, 'conditions', 'terminating'], false);
    endpoints.push({
      ip,
      ips,
      hostname: readHostname(r, e.hostname, [...path, 'hostname']),
      conditions: (ready ? EP_READY : 0) | (serving ? EP_SERVING : 0) | (terminating ? EP_TERMINATING : 0),
      nodeName: r.string(e.nodeName, [...path, 'nodeName']),
      zone: r.string(e.zone, [...path, 'zone']),
    });
  });
  if (hinted >= 0) {
    r.warn(['endpoints', hinted, 'hints'], 'topology hints are not modelled yet: kdp chooses among all endpoints, as kube-proxy does when hints are absent');
  }
  return {
    service: `${namespace}/${service}`,
    ports,
    endpoints,
    reader: r,
    legacy: false,
    addressPath: (i) => ['endpoints', i, 'addresses', 0],
  };
}

/**
 * Legacy v1 Endpoints: `addresses` are ready, `notReadyAddresses` are neither ready nor serving.
 * Each subset becomes one slice, as the EndpointSlice mirroring controller would write it.
 */
export function readLegacyEndpoints(r: FieldReader, obj: Json, namespace: string, name: string): RawSlice[] {
  const slices: RawSlice[] = [];
  r.array(obj.subsets, ['subsets']).forEach((v, s) => {
    const subset = r.record(v, ['subsets', s]);
    const ports: RawSlicePort[] = r.array(subset.ports, ['subsets', s, 'ports']).map((pv, i) => {
      const p = r.record(pv, ['subsets', s, 'ports', i]);
      return {
        name: r.string(p.name, ['subsets', s, 'ports', i, 'name']),
        port: r.port(p.port, ['subsets', s, 'ports', i, 'port']),
        protocol: readProtocol(r, p.protocol, ['subsets', s, 'ports', i, 'protocol']),
      };
    });
    const endpoints: RawEndpoint[] = [];
    const paths: (string | number)[][] = [];
    for (const [field, conditions] of [
      ['addresses', EP_READY | EP_SERVING],
      ['notReadyAddresses', 0],
    ] as const) {
      r.array(subset[field], ['subsets', s, field]).forEach((av, i) => {
        const a = r.record(av, ['subsets', s, field, i]);
        const ip = r.ip(a.ip, ['subsets', s, field, i, 'ip']);
        if (ip < 0) return;
        endpoints.push({
          ip,
          ips: [ip],
          hostname: readHostname(r, a.hostname, ['subsets', s, field, i, 'hostname']),
          conditions,
          nodeName: r.string(a.nodeName, ['subsets', s, field, i, 'nodeName']),
          zone: '',
        });
        paths.push(['subsets', s, field, i, 'ip']);
      });
    }
    slices.push({ service: `${namespace}/${name}`, ports, endpoints, reader: r, legacy: true, addressPath: (i) => paths[i] });
  });
  return slices;
}
