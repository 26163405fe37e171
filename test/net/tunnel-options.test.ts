/**
 * The tunnel builders' option contracts, at both edges of every range: what Linux accepts for
 * the VXLAN device (a 24-bit VNI, RFC 7348; TTL 1..255; the UDP source-port range of
 * `ip link ... srcport MIN MAX`, 1 <= min < max <= 65536) and the IPIP device (TTL 0 = inherit,
 * up to 255), and IPv4 addresses as u32 values. A value inside is kept as given; one outside is an
 * InvalidArgumentError naming the option.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { InvalidArgumentError } from '../../src/errors.js';
import { ipipTunnel } from '../../src/net/ipip.js';
import { kCalicoVni, kTunnelPortMax, kTunnelPortMin, vxlanTunnel } from '../../src/net/vxlan.js';

const addr = { srcIp: 0x0a000001, dstIp: 0x0a000002 };

type Row = readonly [option: string, value: number, ok: boolean];
const kAddressRows: readonly Row[] = [
  ['srcIp', 0, true], ['srcIp', 0xffffffff, true], ['srcIp', -1, false], ['srcIp', 0x100000000, false], ['srcIp', 1.5, false],
  ['dstIp', 0, true], ['dstIp', 0xffffffff, true], ['dstIp', -1, false], ['dstIp', 0x100000000, false], ['dstIp', Number.NaN, false],
];

function check(build: (o: Record<string, number>) => Record<string, unknown>, rows: readonly Row[], message: (option: string) => RegExp): void {
  for (const [option, value, ok] of rows) {
    const make = () => build({ ...addr, [option]: value });
    if (ok) assert.equal(make()[option], value, `${option} ${value} is kept`);
    else assert.throws(make, (e: unknown) => e instanceof InvalidArgumentError && message(option).test(e.message), `${option} ${value} is refused`);
  }
}

test('vxlanTunnel: VNI 0..2^24-1, TTL 1..255, ports 1 <= min < max <= 65536, u32 addresses', () => {
  const message = (option: string): RegExp =>
    option === 'portMin' || option === 'portMax' ? /^options\.portMin\/portMax must satisfy 1 <= portMin < portMax <= 65536$/
    : option === 'vni' ? /^options\.vni must be a 24-bit integer$/
    : option === 'ttl' ? /^options\.ttl must be in \[1, 255\]$/
    : new RegExp(`^options\\.${option} must be a u32 IPv4 address$`);
  check((o) => ({ ...vxlanTunnel(o as never) }), [
    ...kAddressRows,
    ['vni', 0, true], ['vni', 0xffffff, true], ['vni', -1, false], ['vni', 0x1000000, false], ['vni', 2.5, false],
    ['ttl', 1, true], ['ttl', 255, true], ['ttl', 0, false], ['ttl', 256, false], ['ttl', 64.5, false],
    ['portMin', 1, true], ['portMin', 60999, true], ['portMin', 0, false], ['portMin', 61000, false], ['portMin', 1.5, false],
    ['portMax', 65536, true], ['portMax', 32769, true], ['portMax', 65537, false], ['portMax', 32768, false], ['portMax', 40000.5, false],
  ], message);
  const t = vxlanTunnel(addr);
  assert.deepEqual([t.vni, t.ttl, t.portMin, t.portMax, t.df, t.udpChecksum], [kCalicoVni, 64, kTunnelPortMin, kTunnelPortMax, false, false], 'defaults: Calico\'s VNI, TTL 64, the kernel\'s ephemeral range, DF clear, no UDP checksum');
});

test('ipipTunnel: TTL 0 (inherit) .. 255, u32 addresses', () => {
  const message = (option: string): RegExp => (option === 'ttl' ? /^options\.ttl must be in \[0, 255\]$/ : new RegExp(`^options\\.${option} must be a u32 IPv4 address$`));
  check((o) => ({ ...ipipTunnel(o as never) }), [...kAddressRows, ['ttl', 0, true], ['ttl', 255, true], ['ttl', -1, false], ['ttl', 256, false], ['ttl', 3.5, false]], message);
  const t = ipipTunnel(addr);
  assert.deepEqual([t.ttl, t.df], [0, true], 'defaults: inherit the inner TTL, DF set');
});
