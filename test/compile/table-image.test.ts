import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { packTables, unpackTables } from '../../src/compile/table-image.js';

class Table {
  readonly keys: Uint32Array;
  size = 0;
  constructor(n: number) {
    this.keys = new Uint32Array(n);
  }
  has(k: number): boolean {
    return this.keys.includes(k);
  }
}

describe('table image', () => {
  // A lone surrogate (i 9, 11) and a byte-order mark (i 13) are code units like any other.
  const names = Array.from({ length: 40 }, (_, i) => `${i === 13 ? '\ufeff' : ''}KUBE-SVC-${i}-${'é✓'.repeat(i % 3)}${i === 7 ? '😀' : i === 9 ? '\ud800' : i === 11 ? '\udc00x' : ''}`);
  const value = {
    u32: Uint32Array.from([1, 2, 0xffffffff]),
    i32: Int32Array.from([-1, 5]),
    f64: Float64Array.from([0.5, -3.25]),
    u8: Uint8Array.from([7]),
    u16: Uint16Array.from([65535, 3]),
    names,
    short: ['a', 'b'],
    empty: [] as string[],
    mixed: ['x', undefined, 3],
    nested: { list: [Int32Array.from([9]), { n: 1, s: 'x', b: true, z: null, u: undefined }] },
    table: Object.assign(new Table(4), { size: 2 }),
  };

  it('gives back every value, typed arrays as views of the one shared buffer', () => {
    value.table.keys.set([3, 4]);
    const image = packTables(value, { Table });
    assert.ok(image.buffer instanceof SharedArrayBuffer);
    const got = unpackTables<typeof value>(image, { Table });
    assert.deepEqual(Array.from(got.u32), [1, 2, 0xffffffff]);
    assert.deepEqual(Array.from(got.i32), [-1, 5]);
    assert.deepEqual(Array.from(got.f64), [0.5, -3.25]);
    assert.deepEqual(Array.from(got.u8), [7]);
    assert.deepEqual(Array.from(got.u16), [65535, 3]);
    for (const a of [got.u32, got.i32, got.f64, got.u8, got.u16, got.table.keys]) {
      assert.equal(a.buffer, image.buffer, 'a view, not a copy');
      assert.equal(a.byteOffset % 8, 0, 'aligned for any element type');
    }
    assert.deepEqual([...got.names], names, 'strings with non-ASCII, surrogate pairs, lone surrogates and a BOM survive');
    assert.deepEqual(got.short, ['a', 'b']);
    assert.deepEqual(got.empty, []);
    assert.deepEqual(got.mixed, ['x', undefined, 3]);
    assert.deepEqual(Array.from(got.nested.list[0] as Int32Array), [9]);
    assert.deepEqual(got.nested.list[1], { n: 1, s: 'x', b: true, z: null, u: undefined });
    assert.ok(got.table instanceof Table, 'a registered class comes back with its prototype');
    assert.equal(got.table.size, 2);
    assert.ok(got.table.has(4) && !got.table.has(5));
  });

  it('starts every typed array on 16 bytes of the buffer, so 16-byte rows never straddle a line', () => {
    // Odd lengths before each array: an 8-byte alignment would leave some of them at 8 mod 16.
    const odd = { a: new Uint8Array(3), b: new Uint32Array(3), c: new Uint16Array(5), d: new Int32Array(4), e: new Uint8Array(9), f: new Float64Array(1) };
    const got = unpackTables<typeof odd>(packTables(odd, {}), {});
    for (const [name, view] of Object.entries(got)) assert.equal(view.byteOffset % 16, 0, `${name} at byte ${view.byteOffset}`);
  });

  it('keeps the layout small whatever the tables hold, so posting it costs the same', () => {
    const big = { rules: new Uint32Array(1 << 20), names: Array.from({ length: 100_000 }, (_, i) => `chain-${i}`) };
    const small = { rules: new Uint32Array(4), names: Array.from({ length: 16 }, (_, i) => `chain-${i}`) };
    const a = JSON.stringify(packTables(big).layout).length;
    const b = JSON.stringify(packTables(small).layout).length;
    assert.ok(a < b + 32, `layouts of ${a} and ${b} bytes`);
    assert.ok(packTables(big).buffer.byteLength >= (1 << 20) * 4);
  });

  it('packs a list of many join groups intact, each string where its index says', () => {
    // packTables joins 8,192 strings at a time: 20,000 of uneven lengths cross two group edges.
    const many = Array.from({ length: 20_000 }, (_, i) => `${'x'.repeat(i % 97)}${i % 5 === 0 ? 'é✓' : ''}${i}`);
    const got = unpackTables<{ many: string[] }>(packTables({ many }));
    assert.equal(got.many.length, many.length);
    for (let i = 0; i < many.length; i++) if (got.many[i] !== many[i]) assert.fail(`string ${i}: ${JSON.stringify(got.many[i])} against ${JSON.stringify(many[i])}`);
  });

  it('decodes a string list only when it is read, and once', () => {
    const got = unpackTables<{ names: string[] }>(packTables({ names }));
    const d = Object.getOwnPropertyDescriptor(got, 'names')!;
    assert.equal(typeof d.get, 'function', 'not yet decoded');
    const first = got.names;
    assert.equal(got.names, first, 'decoded once, then a plain value');
    assert.equal(Object.getOwnPropertyDescriptor(got, 'names')!.get, undefined);
  });

  it('refuses what it cannot share, naming where it is', () => {
    assert.throws(() => packTables({ a: { f: () => 1 } }), /\$\.a\.f is a function/);
    assert.throws(() => packTables({ m: new Map() }), /\$\.m is a Map, which is not a registered class/);
    assert.throws(() => packTables({ t: [new Table(1)] }), /\$\.t\[0\] is a Table/);
    const image = packTables({ t: new Table(1) }, { Table });
    assert.throws(() => unpackTables(image), /holds a Table, which is not a registered class here/);
  });
});
