/**
 * Services added and removed, written into the IPVS tables in place: what kube-proxy's sync
 * (Kubernetes v1.33 pkg/proxy/ipvs/proxier.go syncService, cleanLegacyService) does for a new
 * Service (a virtual service per ClusterIP, externalIP, LoadBalancer IP and node address x
 * NodePort, its real servers, its ipset entries, kube-ipvs0's addresses) and for a deleted one
 * (the virtual services and their addresses unbound, the entries gone), as kdp's tables hold it.
 *
 * New VSs are built by the compiler's own per-port code (addPortVirtualServices) and copied into
 * the room assembleIpvs left past every table (withRoom); a removed Service's VSs leave the hash
 * table and are marked F_GONE, their slots unused until the next compile; an address leaves
 * kube-ipvs0 with the last VS on it (boundRefs: an externalIP may be two Services' on two ports).
 * Gives up (undefined, nothing written) when the room is spent.
 *
 * Cost: O(VSs and rows of the changed Services' ports), plus M per new mh table; nothing per
 * other Service. Measured (bench/compile/service-update.bench.js, 10 endpoints, shared 2-core
 * machine): a Service added ~33 µs at 100 Services and ~16 µs at 30,000, removed ~9-13 µs, against
 * a full build of 5.7 ms and 274 ms.
 */
import type { Cluster } from '../../model/types.js';
import { nodeAddresses } from '../node-addresses.js';
import type { TableUpdate } from '../mode.js';
import { beginUpdate, endUpdate } from '../table-generation.js';
import { addPortVirtualServices, newIpvsBuilder, nodePortProtoBits, realServerRows, wrrInit, type PortVsContext } from './build.js';
import type { IpvsDataplane } from './dataplane.js';
import { maglevPopulate } from './maglev.js';
import {
  F_BOUND, F_GONE, NP_HEALTH_CHECK, RsWord, VsWord, maglevBackendsOf, vsFlags, vsRsCount, vsRsStart, vsServicePort, writeVirtualService,
  type IpvsTables,
} from './tables.js';
import { portProtoKey } from '../tables/index.js';

type MutableTables = { -readonly [K in keyof IpvsTables]: IpvsTables[K] };

/** The NodePort bits new ports set, before they are ORed into the tables (cleared after each use). */
const kScratchBits = new Uint8Array(65536);

export function updateIpvsServices(dp: IpvsDataplane, next: Cluster, added: readonly number[], removed: readonly number[]): TableUpdate | undefined {
  const t = dp.tables as MutableTables;
  const gone = new Set(removed);

  // Plan the adds before the write window opens (the builder allocates), checking every room.
  const taken = new Set<string>();
  const x: PortVsContext = {
    cluster: next, node: dp.node, b: newIpvsBuilder(), nodePortBits: kScratchBits, loopbackRows: [], weightOf: () => 1, // kube-proxy always writes weight 1
    npAddrs: dp.nodePortAddresses, nodeAddrSet: new Set(nodeAddresses(next, dp.node)), nodeIp: dp.nodeIp,
    claim: (proto, ip, port) => {
      const key = `${proto}/${ip}/${port}`;
      if (taken.has(key)) return false;
      const s = t.table.find(ip, portProtoKey(proto, port));
      // The first claim keeps a key; one a Service removed in this same sync held is free again.
      if (s >= 0 && !gone.has(next.ports[vsServicePort(t, t.table.rows[t.table.at(s)])]?.service ?? -1)) return false;
      taken.add(key);
      return true;
    },
  };
  const b = x.b;
  const newPorts: { sp: number; start: number; count: number }[] = [];
  const touched: number[] = [];
  let port = t.ports;
  for (const s of added) {
    for (const sp of next.services[s].ports) {
      if (sp !== port++ || sp >= t.spVsStart.length) return clearScratch(touched, undefined);
      const p = next.ports[sp];
      if (p.nodePort !== 0) touched.push(p.nodePort);
      if (next.services[s].healthCheckNodePort !== 0) touched.push(next.services[s].healthCheckNodePort);
      const start = t.vsCount + b.ip.length;
      newPorts.push({ sp, start, count: addPortVirtualServices(x, p) });
    }
  }
  const nNew = b.ip.length;
  const newLuts = t.mhSize > 0 && dp.scheduler === 'mh' ? new Set(b.mhKey).size : 0;
  const fits = t.vsCount + nNew <= t.vsIp.length
    && (t.table.size + nNew) * 2 <= t.table.capacity
    && (t.bound.size + nNew) * 2 <= t.bound.mask + 1
    && (t.boundRefs.size + nNew) * 2 <= t.boundRefs.capacity
    && t.rsUsed + b.rsIp.length <= t.rsCount
    && t.fwCount + b.fwBase.length <= t.fwBase.length
    && t.loopbackCount + x.loopbackRows.length <= t.loopbackRows.length
    && (t.mhUsed + newLuts) * t.mhSize <= t.mhLuts.length;
  if (!fits) return clearScratch(touched, undefined);

  let written = 0;
  beginUpdate(t.generation);
  for (const s of removed) {
    for (const sp of next.services[s].ports) {
      if (sp >= t.ports) continue;
      const p = next.ports[sp];
      // A port's Maglev tables are its own (one per traffic policy, build.ts): freed with it.
      const luts = new Set<number>();
      for (let v = t.spVsStart[sp]; v < t.spVsStart[sp] + t.spVsCount[sp]; v++) {
        if ((vsFlags(t, v) & F_GONE) !== 0) continue;
        if (t.vsMh[v] >= 0) luts.add(t.vsMh[v]);
        t.table.delete(t.vsIp[v], portProtoKey(t.vsProto[v], t.vsPort[v]));
        if (vsFlags(t, v) & F_BOUND) unbind(t, t.vsIp[v]);
        t.vs[v * VsWord.STRIDE + VsWord.FLAGS] |= F_GONE;
        t.vs[v * VsWord.STRIDE + VsWord.RS_COUNT] = 0;
        t.vsGone++;
        written += 2;
      }
      t.mhGone += luts.size;
      // NodePorts are allocated once in the cluster: the port's bits of its protocol are its own.
      if (p.nodePort !== 0) t.nodePortBits[p.nodePort] &= ~nodePortProtoBits(p.protocol);
    }
    const hc = dp.cluster.services[s]?.healthCheckNodePort ?? 0;
    if (hc !== 0) t.nodePortBits[hc] &= ~NP_HEALTH_CHECK;
  }
  const V = t.vsCount;
  const R = t.rsUsed;
  const F = t.fwCount;
  t.rs.set(realServerRows(b, b.rsIp.length), R * RsWord.STRIDE);
  t.rsLoopback.set(b.rsLoop, R);
  t.rsConns.fill(0, R, R + b.rsIp.length);
  t.fwBase.set(b.fwBase, F);
  t.fwPrefix.set(b.fwPrefix, F);
  const lutOf = new Map<string, number>();
  for (let k = 0; k < nNew; k++) {
    const v = V + k;
    t.vsIp[v] = b.ip[k];
    t.vsPort[v] = b.port[k];
    t.vsProto[v] = b.proto[k];
    t.vsKind[v] = b.kind[k];
    writeVirtualService(t.vs, v, R + b.rsStart[k], b.rsCount[k], b.flags[k], b.sp[k]);
    t.vsTimeout[v] = b.timeout[k];
    t.vsFwStart[v] = F + b.fwStart[k];
    t.vsFwCount[v] = b.fwCount[k];
    wrrInit(t, vsRsStart(t, v), vsRsCount(t, v), t.vsWrrMw, t.vsWrrDi, v);
    t.rrNext[v] = 0;
    t.wrrCl[v] = -1;
    t.wrrCw[v] = 0;
    t.vsMh[v] = -1;
    if (newLuts > 0) {
      let lut = lutOf.get(b.mhKey[k]);
      if (lut === undefined) {
        lut = t.mhUsed++;
        lutOf.set(b.mhKey[k], lut);
        maglevPopulate(maglevBackendsOf(t, vsRsStart(t, v), vsRsCount(t, v)), t.mhSize, t.mhLuts, lut * t.mhSize);
        written += t.mhSize;
      }
      t.vsMh[v] = lut;
    }
    t.table.rows[t.table.at(t.table.slotFor(t.vsIp[v], portProtoKey(t.vsProto[v], t.vsPort[v])))] = v;
    if (vsFlags(t, v) & F_BOUND) {
      t.bound.add(t.vsIp[v]);
      t.boundRefs.rows[t.boundRefs.at(t.boundRefs.slotFor(t.vsIp[v], 1))]++;
    }
    written += 2 + vsRsCount(t, v);
  }
  t.loopbackRows.set(x.loopbackRows, t.loopbackCount);
  t.loopbackCount += x.loopbackRows.length;
  for (const np of touched) t.nodePortBits[np] |= kScratchBits[np];
  for (const { sp, start, count } of newPorts) {
    t.spVsStart[sp] = start;
    t.spVsCount[sp] = count;
  }
  t.ports = port;
  t.vsCount = V + nNew;
  t.rsUsed = R + b.rsIp.length;
  t.fwCount = F + b.fwBase.length;
  endUpdate(t.generation);
  dp.cluster = next;
  return clearScratch(touched, { entriesWritten: written });
}

/** One VS fewer on `ip`: the address leaves kube-ipvs0 with the last. */
function unbind(t: MutableTables, ip: number): void {
  const s = t.boundRefs.find(ip, 1);
  if (s < 0) return;
  if (--t.boundRefs.rows[t.boundRefs.at(s)] > 0) return;
  t.boundRefs.delete(ip, 1);
  t.bound.delete(ip);
}

function clearScratch<T>(touched: readonly number[], result: T): T {
  for (const np of touched) kScratchBits[np] = 0;
  return result;
}
