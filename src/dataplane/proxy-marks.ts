/**
 * Conntrack marks that tie the userspace proxy's two connections together: the client's
 * (redirected to the proxy) and the proxy's own to the endpoint. The low bits of a server-side
 * mark hold the client connection's conntrack slot.
 */
export const MARK_PROXY_CLIENT = 0x80000000;
export const MARK_PROXY_SERVER = 0x40000000;
export const MARK_SLOT_MASK = 0x3fffffff;
/** On a client-side mark: the proxy's source port toward the endpoint, once chosen (0 before). */
export const MARK_PORT_MASK = 0xffff;

/** The proxy's ephemeral ports (Linux's ip_local_port_range). */
export const kProxyPortMin = 32768;
export const kProxyPortSpan = 61000 - kProxyPortMin;
