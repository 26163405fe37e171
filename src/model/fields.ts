/**
 * Typed reads of untyped Kubernetes objects. Each reader reports a wrong type or a bad value
 * against the field's path and returns a fallback, so that building goes on and finds every
 * problem in one pass.
 */
import { Validator } from 'ip-num';
import { looksLikeIpv6, parseCidr, parseIp, type Cidr } from '../net/ipv4.js';
import type { FieldPath } from './source.js';
import type { ObjectRef, Reporter } from './reporter.js';

export type Json = Record<string, unknown>;

export function isRecord(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads fields of one object, reporting against it. */
export class FieldReader {
  constructor(
    readonly ref: ObjectRef,
    readonly report: Reporter,
  ) {}

  error(path: FieldPath, message: string): void {
    this.report.error(this.ref, path, message);
  }

  warn(path: FieldPath, message: string): void {
    this.report.warn(this.ref, path, message);
  }

  record(value: unknown, path: FieldPath): Json {
    if (value === undefined || value === null) return {};
    if (isRecord(value)) return value;
    this.error(path, `must be an object, not ${describe(value)}`);
    return {};
  }

  array(value: unknown, path: FieldPath): unknown[] {
    if (value === undefined || value === null) return [];
    if (Array.isArray(value)) return value;
    this.error(path, `must be a list, not ${describe(value)}`);
    return [];
  }

  string(value: unknown, path: FieldPath, fallback = ''): string {
    if (value === undefined || value === null) return fallback;
    if (typeof value === 'string') return value;
    this.error(path, `must be a string, not ${describe(value)}`);
    return fallback;
  }

  bool(value: unknown, path: FieldPath, fallback: boolean): boolean {
    if (value === undefined || value === null) return fallback;
    if (typeof value === 'boolean') return value;
    this.error(path, `must be true or false, not ${describe(value)}`);
    return fallback;
  }

  integer(value: unknown, path: FieldPath, fallback: number, min: number, max: number): number {
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      this.error(path, `must be a whole number, not ${describe(value)}`);
      return fallback;
    }
    if (value < min || value > max) {
      this.error(path, `${value} is out of range ${min}-${max}`);
      return fallback;
    }
    return value;
  }

  /** A port number 1-65535; returns 0 after reporting when invalid. */
  port(value: unknown, path: FieldPath): number {
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      this.error(path, value === undefined ? 'is required' : `must be a port number, not ${describe(value)}`);
      return 0;
    }
    if (value < 1 || value > 65535) {
      this.error(path, `port ${value} is out of range 1-65535`);
      return 0;
    }
    return value;
  }

  /** An IPv4 address as u32, or -1 after reporting (IPv6 gets a "not supported yet"). */
  ip(value: unknown, path: FieldPath): number {
    if (typeof value !== 'string') {
      this.error(path, `must be an IPv4 address, not ${describe(value)}`);
      return -1;
    }
    const ip = parseIp(value);
    if (ip >= 0) return ip;
    if (looksLikeIpv6(value)) {
      this.error(path, `IPv6 address "${value}": IPv6 is not supported yet (kdp models IPv4 clusters)`);
    } else {
      const [, reasons] = Validator.isValidIPv4String(value);
      this.error(path, `"${value}" is not a valid IPv4 address${reasons.length ? ` (${reasons[0]})` : ''}`);
    }
    return -1;
  }

  cidr(value: unknown, path: FieldPath): Cidr | undefined {
    if (typeof value !== 'string') {
      this.error(path, `must be an IPv4 CIDR such as 10.0.0.0/16, not ${describe(value)}`);
      return undefined;
    }
    if (looksLikeIpv6(value)) {
      this.error(path, `IPv6 CIDR "${value}": IPv6 is not supported yet (kdp models IPv4 clusters)`);
      return undefined;
    }
    const [valid, reasons] = Validator.isValidIPv4CidrRange(value);
    const cidr = parseCidr(value);
    if (!valid || !cidr) {
      const reason = reasons[0] ?? 'expected a.b.c.d/prefix';
      this.error(path, `"${value}" is not a valid IPv4 CIDR (${reason})`);
      return undefined;
    }
    return cidr;
  }

  oneOf<T extends string>(value: unknown, path: FieldPath, allowed: readonly T[], fallback: T): T {
    if (value === undefined || value === null || value === '') return fallback;
    if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) return value as T;
    this.error(path, `must be one of ${allowed.join(', ')}, not ${describe(value)}`);
    return fallback;
  }
}

/** RFC 1123 names, as the API server validates them (apimachinery validation.IsDNS1123Label/Subdomain). */
const kDnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const kDnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function isDnsLabel(text: string): boolean {
  return kDnsLabel.test(text);
}

/** A DNS-1123 subdomain of at most 253 characters, trailing dot allowed (search domains may be written absolute). */
export function isDnsSubdomain(text: string): boolean {
  const t = text.endsWith('.') ? text.slice(0, -1) : text;
  return t.length > 0 && t.length <= 253 && kDnsSubdomain.test(t);
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'object') return 'an object';
  return String(value);
}

/** Go duration text ("24h0m0s", "1h", "90s", "500ms") to seconds; undefined when malformed. */
export function parseGoDuration(text: string): number | undefined {
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const n = Number(m[1]);
    const unit = m[2];
    total += unit === 'h' ? n * 3600 : unit === 'm' ? n * 60 : unit === 's' ? n : unit === 'ms' ? n / 1e3 : unit === 'ns' ? n / 1e9 : n / 1e6;
    matched = re.lastIndex;
  }
  return matched === text.length && matched > 0 ? total : undefined;
}

const kQuantitySuffix: Readonly<Record<string, number>> = {
  '': 1, n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/**
 * A Kubernetes resource quantity ("8", "7500m", "16393216Ki", "1.5Gi", "2e3") as a number;
 * undefined when malformed (k8s.io/apimachinery resource.Quantity: a signed decimal, then a binary
 * or decimal SI suffix or a decimal exponent).
 */
export function parseQuantity(text: unknown): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) ? text : undefined;
  if (typeof text !== 'string' || text.length > 64) return undefined;
  const m = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[1] + (m[2] ?? ''));
  return Number.isFinite(n) ? n * kQuantitySuffix[m[3] ?? ''] : undefined;
}
