export { compileUserspace } from './build.js';
export type { UserspaceOptions } from './build.js';
export { newProxyConnection, kUserspaceCopiesPerPayload, kUserspaceTcpCopyBufferBytes, kUserspaceUdpBufferBytes } from './dataplane.js';
export type { ProxyConnection, UserspaceDataplane } from './dataplane.js';
export { kEphemeralPortRange } from './tables.js';
export type { UserspaceRules, UserspaceTables } from './tables.js';
export { renderUserspaceIptablesSave, userspaceIptablesTables, portalRuleText } from './render.js';
