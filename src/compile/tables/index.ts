/**
 * The lookup-table kit every proxy mode builds on: open addressing over typed arrays with
 * power-of-two capacities, one structure per file, each with its cost in its header.
 */
import { AddressSet } from './address-set.js';
import { PairTable } from './pair-table.js';

export { nextPow2, withRoom } from './capacity.js';
export { AddressSet } from './address-set.js';
export { PairTable, PairWord, pairStride, portProtoKey } from './pair-table.js';
export { ExpiringTable } from './expiring-table.js';
export { refIndexAdd, refIndexRemove } from './ref-index.js';
export type { ExpiringTableOptions } from './expiring-table.js';

/** The kit's classes compiled tables may hold, for packTables/unpackTables (ExpiringTable is per-instance state, never shared). */
export const kTableClasses = { PairTable, AddressSet } as const;
