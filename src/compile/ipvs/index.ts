export { compileIpvs, nodePortAddressesOf } from './compile.js';
export type { IpvsDataplane, IpvsOptions } from './compile.js';
export { renderIpvsadmSave, renderIpvsIptablesSave, ipvsIptablesTables } from './render.js';
export { renderIpsetSave, ipvsIpsetEntries, kIpvsIpsets, createLine } from './ipsets.js';
export type { IpsetInfo, IpsetSaveOptions, IpsetType } from './ipsets.js';
export { ipvsSyncDelta } from './sync.js';
export type { IpvsSyncDelta, SyncDeltaOptions } from './sync.js';
export { shBucket, mhHash } from './schedulers.js';
export type { IpvsTables } from './tables.js';
