import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { base32, nameHash, sha256, sha256Hex, utf8 } from '../../../src/compile/sha256.js';
import { portProtoHash, serviceChainNames } from '../../../src/compile/iptables/chain-names.js';

test('sha256 matches the FIPS 180-2 vectors', () => {
  assert.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(sha256Hex(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(sha256Hex('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'), '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
});

test('sha256 agrees with node:crypto on lengths around the padding boundaries', () => {
  for (const n of [55, 56, 57, 63, 64, 65, 119, 120, 1000]) {
    const s = 'k'.repeat(n);
    assert.equal(sha256Hex(s), createHash('sha256').update(s).digest('hex'), `length ${n}`);
  }
});

test('base32 is RFC 4648 with padding', () => {
  assert.equal(base32(utf8('foobar')), 'MZXW6YTBOI======');
  assert.equal(base32(utf8('f')), 'MY======');
  assert.equal(base32(sha256(utf8('x'))).length, 56);
});

test('nameHash is the first characters of base32(SHA-256(UTF-8)), by node:crypto and RFC 4648, for any text and length', () => {
  // RFC 4648's alphabet over the digest's bits, five at a time, most significant first.
  const rfc4648 = (bytes: Buffer, chars: number): string => {
    const bits = [...bytes].map((b) => b.toString(2).padStart(8, '0')).join('');
    let out = '';
    for (let i = 0; i < chars; i++) out += 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[parseInt(bits.slice(i * 5, i * 5 + 5), 2)];
    return out;
  };
  // Padding edges (55/56/64 bytes), multi-byte UTF-8 (2, 3 and 4 bytes), a name past the scratch buffer, and the empty text.
  const texts = ['', 'default/kubernetes:httpstcp', 'k'.repeat(55), 'k'.repeat(56), 'k'.repeat(64), 'é/ü:ñ', 'ns/日本:p80tcp', 'ns/😀:ptcp10.0.0.1:80', 'x'.repeat(5000)];
  for (const text of texts) {
    const digest = createHash('sha256').update(text, 'utf8').digest();
    for (const chars of [1, 6, 7, 8, 13, 16, 48]) assert.equal(nameHash(text, chars), rfc4648(digest, chars), `${text.slice(0, 20)} (${text.length}) ${chars}`);
  }
  // The scratch buffer grew for the long name and still serves short ones.
  assert.equal(nameHash('default/kubernetes:https' + 'tcp', 16), 'NPX46M4PTMTKRN6Y');
});

test('kube-proxy chain names: default/kubernetes:https tcp is KUBE-SVC-NPX46M4PTMTKRN6Y', () => {
  assert.equal(portProtoHash('default/kubernetes:https', 'tcp'), 'NPX46M4PTMTKRN6Y');
  const n = serviceChainNames('default/kubernetes:https', 'tcp');
  assert.equal(n.svc, 'KUBE-SVC-NPX46M4PTMTKRN6Y');
  assert.equal(n.ext, 'KUBE-EXT-NPX46M4PTMTKRN6Y');
  // From kube-proxy's proxier_test.go expected dump: ns5/svc5:p80 tcp.
  assert.equal(serviceChainNames('ns5/svc5:p80', 'tcp').fw, 'KUBE-FW-NUKIZ6OKUXPJNT4C');
});
