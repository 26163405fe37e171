/**
 * Compiled tables as one SharedArrayBuffer and a small, self-describing layout: how a node's
 * rules, compiled once on the main thread, reach every replay worker without being rebuilt or
 * copied.
 *
 * `packTables(value, classes)` lays out a tree of plain objects, arrays, typed arrays, strings and
 * numbers: every typed array is copied once into the shared buffer (16-byte aligned) and every
 * array of strings is packed there too (UTF-16LE code units behind a Uint32 offset index), so the
 * layout left over is a few kilobytes whatever the cluster's size, and posting it to a worker
 * costs the same for 10 Services as for 100,000. `unpackTables(image, classes)` gives the tree
 * back with typed arrays as views of the shared buffer (zero copy) and string lists decoded on
 * first read.
 *
 * Objects of a registered class (a hash table: typed arrays and sizes, with methods) come back
 * with that class's prototype and their own fields, and no constructor runs: nothing is
 * recomputed, which is the point. A class is only fit for this if all its state is in plain
 * own fields (no `#private` fields, no closures). Functions and other objects are refused.
 *
 * The shared tables are read-only by contract: per-run state (scheduler cursors, affinity
 * entries, `-m recent` lists) is never packed; each worker makes its own.
 */

type TypedArray = Uint8Array | Uint16Array | Uint32Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
type TypedArrayName = 'Uint8Array' | 'Uint16Array' | 'Uint32Array' | 'Int8Array' | 'Int16Array' | 'Int32Array' | 'Float32Array' | 'Float64Array';

const kTypedArrays: Record<TypedArrayName, new (buffer: ArrayBufferLike, byteOffset: number, length: number) => TypedArray> = {
  Uint8Array, Uint16Array, Uint32Array, Int8Array, Int16Array, Int32Array, Float32Array, Float64Array,
};

/** One node of the layout: a value inline, or where its bytes are in the buffer. */
export type LayoutNode =
  | number
  | boolean
  | string
  | null
  | { readonly u: 1 } // undefined
  | { readonly ta: TypedArrayName; readonly off: number; readonly len: number }
  | { readonly strs: number; readonly off: number; readonly units: number } // string[]: `strs` strings
  | { readonly list: readonly LayoutNode[] }
  | { readonly cls?: string; readonly fields: Readonly<Record<string, LayoutNode>> };

export interface TableImage {
  readonly buffer: SharedArrayBuffer;
  readonly layout: LayoutNode;
}

/** Classes whose instances may be packed, by a name stable across threads. */
export type ClassRegistry = Readonly<Record<string, { readonly prototype: object }>>;

const align8 = (n: number): number => (n + 7) & ~7;
// A typed array starts on 16 bytes of the buffer, whose own address malloc aligns to 16: a table's
// 16-byte rows (ipvs/tables.ts RsWord, nftables' ChainWord) then never straddle two cache lines.
const align16 = (n: number): number => (n + 15) & ~15;

/** Strings joined at a time when packing a list (bounds the flat string: names are ~50-100 units). */
const kJoinStrings = 8192;

function typedArrayName(v: unknown): TypedArrayName | undefined {
  if (!ArrayBuffer.isView(v) || v instanceof DataView) return undefined;
  const name = v.constructor.name as TypedArrayName;
  return name in kTypedArrays ? name : undefined;
}

function isStringArray(v: readonly unknown[]): boolean {
  if (v.length < 16) return false; // short lists stay inline, where they are as cheap
  for (let i = 0; i < v.length; i++) if (typeof v[i] !== 'string') return false;
  return true;
}

/** Packs `value` (see the file header); throws naming the path of anything it cannot pack. */
export function packTables(value: unknown, classes: ClassRegistry = {}): TableImage {
  const names = new Map<unknown, string>();
  for (const [name, cls] of Object.entries(classes)) names.set(cls.prototype, name);
  // Pass 1: the layout, with offsets; the bytes to copy are remembered, not yet written.
  const copies: { off: number; src: TypedArray }[] = [];
  const strings: { off: number; src: readonly string[] }[] = [];
  let size = 0;
  const visit = (v: unknown, path: string): LayoutNode => {
    if (v === undefined) return { u: 1 };
    if (v === null || typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return v;
    const ta = typedArrayName(v);
    if (ta) {
      const src = v as TypedArray;
      const off = align16(size);
      size = off + src.byteLength;
      copies.push({ off, src });
      return { ta, off, len: src.length };
    }
    if (Array.isArray(v)) {
      if (isStringArray(v)) {
        const list = v as readonly string[];
        let units = 0;
        for (const s of list) units += s.length;
        const off = align8(size);
        size = off + (v.length + 1) * 4 + units * 2;
        strings.push({ off, src: list });
        return { strs: v.length, off, units };
      }
      return { list: (v as readonly unknown[]).map((x, i) => visit(x, `${path}[${i}]`)) };
    }
    if (typeof v === 'object') {
      const proto = Object.getPrototypeOf(v);
      const cls = proto === Object.prototype || proto === null ? undefined : names.get(proto);
      if (proto !== Object.prototype && proto !== null && cls === undefined) {
        throw new TypeError(`packTables: ${path} is a ${proto?.constructor?.name ?? 'foreign object'}, which is not a registered class`);
      }
      const fields: Record<string, LayoutNode> = {};
      for (const [k, x] of Object.entries(v)) fields[k] = visit(x, `${path}.${k}`);
      return cls === undefined ? { fields } : { cls, fields };
    }
    throw new TypeError(`packTables: ${path} is a ${typeof v}, which cannot be shared`);
  };
  const layout = visit(value, '$');
  // Pass 2: one buffer, every typed array and string list copied into it.
  const buffer = new SharedArrayBuffer(align8(size) || 8);
  const bytes = new Uint8Array(buffer);
  for (const { off, src } of copies) bytes.set(new Uint8Array(src.buffer, src.byteOffset, src.byteLength), off);
  for (const { off, src } of strings) {
    const index = new Uint32Array(buffer, off, src.length + 1);
    const units = Buffer.from(buffer, off + (src.length + 1) * 4);
    let u = 0;
    // A group of strings joined into one flat string (names built by concatenation are cons
    // strings, which a copy would otherwise flatten one by one), then written by Node's own UTF-16
    // copy: 1.3M names, 142M units, 205-349 ms against 507-935 for a charCodeAt loop
    // (/work/notes/s32/strpack.mjs, 2026-12-06).
    for (let g = 0; g < src.length; g += kJoinStrings) {
      const end = Math.min(src.length, g + kJoinStrings);
      for (let i = g, at = u; i < end; i++) {
        index[i] = at;
        at += src[i].length;
      }
      u += units.write(src.slice(g, end).join(''), u * 2, 'utf16le') >>> 1;
    }
    index[src.length] = u;
  }
  return { buffer, layout };
}

/**
 * A packed string list, decoded: a run of UTF-16LE code units per string, as packTables wrote them
 * (Node's own decoder: 1.3M names in 373-900 ms against 1,162-1,909 for String.fromCharCode over
 * subarrays; /work/notes/s32/strpack.mjs, 2026-12-06).
 */
function decodeStrings(buffer: SharedArrayBuffer, off: number, count: number, totalUnits: number): string[] {
  const index = new Uint32Array(buffer, off, count + 1);
  const units = Buffer.from(buffer, off + (count + 1) * 4, totalUnits * 2);
  const out = new Array<string>(count);
  for (let i = 0; i < count; i++) out[i] = units.toString('utf16le', index[i] * 2, index[i + 1] * 2);
  return out;
}

/**
 * A string-list field decodes on first read: names and rule texts serve explain and rendering,
 * which a replay worker never calls, and decoding them is most of an attach's cost otherwise.
 */
function lazyStrings(obj: Record<string, unknown>, key: string, buffer: SharedArrayBuffer, n: { readonly strs: number; readonly off: number; readonly units: number }): void {
  Object.defineProperty(obj, key, {
    configurable: true,
    enumerable: true,
    // `this`, not obj: the getter may have been copied (with its descriptor) onto another object.
    get(this: object) {
      const value = decodeStrings(buffer, n.off, n.strs, n.units);
      Object.defineProperty(this, key, { value, writable: false, enumerable: true, configurable: false });
      return value;
    },
  });
}

/** The tree `packTables` packed, with typed arrays as views of the shared buffer. */
export function unpackTables<T>(image: TableImage, classes: ClassRegistry = {}): T {
  const { buffer } = image;
  const build = (n: LayoutNode): unknown => {
    if (n === null || typeof n !== 'object') return n;
    if ('u' in n) return undefined;
    if ('ta' in n) return new kTypedArrays[n.ta](buffer, n.off, n.len);
    if ('strs' in n) return decodeStrings(buffer, n.off, n.strs, n.units);
    if ('list' in n) return n.list.map(build);
    let obj: Record<string, unknown>;
    if (n.cls !== undefined) {
      const cls = classes[n.cls];
      if (!cls) throw new TypeError(`unpackTables: the image holds a ${n.cls}, which is not a registered class here`);
      obj = Object.create(cls.prototype) as Record<string, unknown>;
    } else {
      obj = {};
    }
    for (const [k, x] of Object.entries(n.fields)) {
      if (x !== null && typeof x === 'object' && 'strs' in x) lazyStrings(obj, k, buffer, x);
      else obj[k] = build(x);
    }
    return obj;
  };
  return build(image.layout) as T;
}
