export {
  compileUserspace, newProxyConnection, kEphemeralPortRange, kUserspaceCopiesPerPayload,
  kUserspaceTcpCopyBufferBytes, kUserspaceUdpBufferBytes,
} from './compile.js';
export type { ProxyConnection, UserspaceDataplane, UserspaceOptions, UserspaceTables } from './compile.js';
export { renderUserspaceIptablesSave, userspaceIptablesTables, portalRuleText } from './render.js';
