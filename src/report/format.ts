/**
 * Numbers for people: the report and the chart ticks print every figure through these, so a
 * cost reads "1.23 µs" everywhere and never "1234.5678". Three significant digits: benchmark
 * spreads are rarely tighter than 1%, so more digits would claim a precision the data lacks.
 */

/** `x` to three significant digits, without trailing zeros ("1.5", "12.3", "123"). */
export function sig3(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const abs = Math.abs(x);
  // toPrecision switches to exponent form at 1e21; values that large are not benchmark figures.
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : Math.min(6, 2 - Math.floor(Math.log10(abs)));
  const out = trimZeros(x.toFixed(digits));
  return out === '-0' ? '0' : out;
}

function trimZeros(s: string): string {
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

function scaled(x: number, units: UnitScale, sep = ' '): string {
  if (!Number.isFinite(x)) return '—';
  const abs = Math.abs(x);
  let chosen = units[0]!;
  for (const u of units) if (abs >= u[0] * 0.9995) chosen = u; // 999.96 ns prints as 1 µs, not 1000 ns
  return `${sig3(x / chosen[0])}${sep}${chosen[1]}`.trimEnd();
}

/** A unit scale: [factor, name] pairs, smallest first. */
export type UnitScale = readonly (readonly [number, string])[];

export const kTimeUnits: UnitScale = [[1, 'ns'], [1e3, 'µs'], [1e6, 'ms'], [1e9, 's']];
/** Milliseconds (sync times) in the best unit. */
export const kMsUnits: UnitScale = [[1e-3, 'µs'], [1, 'ms'], [1e3, 's']];
export const kPpsUnits: UnitScale = [[1, 'pps'], [1e3, 'kpps'], [1e6, 'Mpps'], [1e9, 'Gpps']];
export const kPerSecondUnits: UnitScale = [[1, '/s'], [1e3, 'k/s'], [1e6, 'M/s'], [1e9, 'G/s']];

/**
 * One unit for a whole chart axis: the largest that leaves the smallest non-zero tick at 0.01 or
 * more, so the ticks read "0.1 1 10 µs", and the unit goes once into the axis title.
 */
export function axisUnit(units: UnitScale, ticks: readonly number[]): { readonly factor: number; readonly name: string } {
  const nonZero = ticks.map(Math.abs).filter((t) => t > 0 && Number.isFinite(t));
  if (nonZero.length === 0) return { factor: units[0]![0], name: units[0]![1] };
  const max = Math.max(...nonZero);
  const min = Math.min(...nonZero);
  let chosen = units[0]!;
  for (const u of units) if (max >= u[0] * 0.9995 && min / u[0] >= 0.01) chosen = u;
  return { factor: chosen[0], name: chosen[1] };
}
/** A duration given in nanoseconds: "12.3 ns", "1.23 µs", "45 ms". */
export function formatNs(ns: number): string {
  if (ns !== 0 && Math.abs(ns) < 1) return `${sig3(ns)} ns`;
  return scaled(ns, kTimeUnits);
}

/** A duration given in milliseconds (sync times), printed in the best unit. */
export function formatMs(ms: number): string {
  return formatNs(ms * 1e6);
}

/** A wall time of minutes, to the second: "7 min 12 s", "45 s". */
export function formatMinutes(ms: number): string {
  if (!Number.isFinite(ms)) return '—';
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s` : `${s} s`;
}

const kCountUnits = [[1, ''], [1e3, 'k'], [1e6, 'M'], [1e9, 'G']] as const;
/** A count: 10, 100, 1k, 10k, 1.5M (axis ticks and service counts). */
export function formatCount(n: number): string {
  return scaled(n, kCountUnits, '');
}

/** Packets per second: "850 kpps", "3.4 Mpps". */
export function formatPps(pps: number): string {
  return scaled(pps, kPpsUnits);
}

/** Events per second (new flows): "950/s", "12.3 k/s", "1.2 M/s". */
export function formatPerSecond(perSecond: number): string {
  return scaled(perSecond, kPerSecondUnits).replace(/ \/s$/, '/s');
}

/** Bytes in binary units, as memory is sized: "96 B", "1.5 KiB", "12 MiB". */
export function formatBytes(bytes: number): string {
  return scaled(bytes, [[1, 'B'], [1024, 'KiB'], [1024 ** 2, 'MiB'], [1024 ** 3, 'GiB']]);
}

export function formatGbit(gbit: number): string {
  return `${sig3(gbit)} Gbit/s`;
}

/** A ratio: "1.85×". */
export function formatRatio(r: number): string {
  return `${sig3(r)}×`;
}

/** A signed difference, with its unit formatter: "+50 B", "−3.2 ns". */
export function formatSigned(x: number, fmt: (v: number) => string): string {
  if (x === 0) return fmt(0);
  return x > 0 ? `+${fmt(x)}` : `−${fmt(-x)}`;
}

/** A cell's coordinates in words, for figures that name the cell they come from. */
export function cellLabel(c: { mode: string; services: number; cni: string; workers: number }): string {
  return `${c.mode}, ${formatCount(c.services)} Services, ${c.cni}, ${c.workers} worker${c.workers === 1 ? '' : 's'}`;
}

/** A fitted exponent or slope to two decimals: "0.98", "0.00" (never "-0.00"). */
export function formatExponent(k: number): string {
  const s = k.toFixed(2);
  return s === '-0.00' ? '0.00' : s;
}
