/** Cluster DNS: CoreDNS's records, kubelet's resolv.conf, glibc's search, and one pod's lookup. */
export { kKubeadmCorefile } from './corefile.js';
export type { CorednsSettings } from './corefile.js';
export { kQueryTypes, hasAnswer } from './message.js';
export type { DnsRecord, DnsResponse, QueryType, Rcode } from './message.js';
export { podResolvConf } from './resolv-conf.js';
export type { ResolvConf } from './resolv-conf.js';
export { podFrom, resolveName } from './resolve.js';
export { decodeMessage, encodeQuery, encodeResponse, kUdpMessageMax } from './wire.js';
export type { DecodedMessage } from './wire.js';
export type { Exchange, Resolution, ResolveReport } from './resolve.js';
export { searchQueries } from './search.js';
export type { AskServer, SearchResult, SearchSettings, SentQuery } from './search.js';
export { ClusterZone } from './zone.js';
