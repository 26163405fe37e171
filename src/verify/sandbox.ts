/**
 * A closed set of network namespaces that only kdp's own code created, joined to each other by
 * veth pairs and to nothing else, and deleted by exact name on exit, error, SIGINT or SIGTERM.
 *
 * Safety rules this module enforces (NETWORK SAFETY in the issue):
 * - every namespace is named `kdpv-<pid>-<n>`, created with `ip netns add` and deleted with
 *   `ip netns del <that name>`; interfaces are created *inside* namespaces (`ip -n A link add ...
 *   peer ... netns B`), so no interface ever exists in the host namespace, and every interface
 *   dies with its namespace;
 * - nothing here ever runs a command in the host namespace other than `ip netns add/del`;
 * - routes are only ever added inside these namespaces, and every route points at a veth whose
 *   peer is another namespace of the same sandbox: a namespace has no interface other than `lo`
 *   and those veths, so no packet can leave the sandbox whatever its routes say;
 * - child processes (probe agents, tools) get a timeout and are killed by pid on cleanup, and
 *   each holds a lifeline (lifeline.ts) so that kdp's helpers die with kdp even after SIGKILL;
 * - each namespace records its owner (pid and start time); the first sandbox of a process first
 *   removes the namespaces of owners that are gone (stale-sandboxes.ts), never another live run's.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { EnvironmentError } from '../errors.js';
import { withoutHugetlb } from '../replay/huge-pages.js';
import { ownerOf, ownerRecord, sweepStaleSandboxes, type SweepReport } from './stale-sandboxes.js';

export interface RunResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time of the process, ms. */
  readonly ms: number;
}

export interface RunOptions {
  readonly input?: string;
  /** Kill the process (by pid) after this many ms. Default 60 s. */
  readonly timeoutMs?: number;
  readonly onSpawn?: (child: ChildProcess) => void;
}

const kDefaultTimeoutMs = 60_000;
/** Every sandbox in this process, for the signal and exit handlers. */
const live = new Set<Sandbox>();
let handlersInstalled = false;
let sandboxSeq = 0;
let swept: SweepReport | undefined;

/** A namespace belongs to this process while the sandbox that named it is not disposed. */
function isOurs(ns: string): boolean {
  for (const s of live) if (ns.startsWith(`${s.prefix}-`)) return true;
  return false;
}

/**
 * Removes the namespaces (and their processes) of kdp runs that died without cleaning up; runs
 * once per process, before its first sandbox names anything. Returns what it removed.
 */
export function sweepStaleOnce(): SweepReport {
  swept ??= sweepStaleSandboxes(isOurs);
  return swept;
}

/** Runs the sweep again (tests, after they made stale namespaces of their own). */
export function sweepStaleNow(): SweepReport {
  swept = sweepStaleSandboxes(isOurs);
  return swept;
}

function cleanupAllSync(): void {
  for (const s of [...live]) s.disposeSync();
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', cleanupAllSync);
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]] as const) {
    process.on(sig, () => {
      cleanupAllSync();
      process.exit(code);
    });
  }
}

export class Sandbox {
  /** `kdpv-<pid>-<k>`: k counts sandboxes in this process, so two in one run never collide. */
  readonly prefix: string;
  readonly #namespaces: string[] = [];
  readonly #children = new Set<ChildProcess>();
  #vethSeq = 0;
  #disposed = false;

  constructor() {
    sweepStaleOnce();
    this.prefix = `kdpv-${process.pid}-${sandboxSeq++}`;
    installHandlers();
    live.add(this);
  }

  get namespaces(): readonly string[] {
    return this.#namespaces;
  }

  /** Creates namespace `<prefix>-<role>` with `lo` up and the owner record as `lo`'s alias. */
  async addNamespace(role: string): Promise<string> {
    if (!/^[a-z0-9]{1,8}$/.test(role)) throw new Error(`namespace role must be 1-8 lowercase letters or digits: ${role}`);
    const name = `${this.prefix}-${role}`;
    const r = await run('ip', ['netns', 'add', name]);
    if (r.status !== 0) throw new EnvironmentError(`ip netns add ${name} failed: ${r.stderr.trim()}`);
    this.#namespaces.push(name);
    const owner = ownerOf(process.pid);
    await this.ip(name, ['link', 'set', 'lo', 'up', ...(owner ? ['alias', ownerRecord(owner)] : [])]);
    return name;
  }

  /**
   * A veth pair between two namespaces of this sandbox, created inside them (never in the host
   * namespace). Names are `kv<seq>a` / `kv<seq>b` unless given; both ends are set up.
   */
  async addVeth(nsA: string, nsB: string, names?: { a?: string; b?: string }): Promise<{ a: string; b: string }> {
    if (!this.#namespaces.includes(nsA) || !this.#namespaces.includes(nsB)) throw new Error('veth ends must be in namespaces of this sandbox');
    const seq = this.#vethSeq++;
    const a = names?.a ?? `kv${seq}a`;
    const b = names?.b ?? `kv${seq}b`;
    await this.ip(nsA, ['link', 'add', a, 'type', 'veth', 'peer', 'name', b, 'netns', nsB]);
    await this.ip(nsA, ['link', 'set', a, 'up']);
    await this.ip(nsB, ['link', 'set', b, 'up']);
    return { a, b };
  }

  /** `ip -n NS ...`; throws with the tool's message on failure. */
  async ip(ns: string, args: string[]): Promise<void> {
    this.#checkNs(ns);
    const r = await run('ip', ['-n', ns, ...args]);
    if (r.status !== 0) throw new EnvironmentError(`ip -n ${ns} ${args.join(' ')}: ${r.stderr.trim()}`);
  }

  /** Many `ip` commands in one process (`ip -n NS -batch -`). */
  async ipBatch(ns: string, lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    this.#checkNs(ns);
    const r = await run('ip', ['-n', ns, '-batch', '-'], { input: lines.join('\n') + '\n' });
    if (r.status !== 0) throw new EnvironmentError(`ip -n ${ns} -batch: ${r.stderr.trim().split('\n').slice(0, 5).join('; ')}`);
  }

  /** Sets sysctls inside a namespace (`ip netns exec NS sysctl -qw k=v ...`). */
  async sysctl(ns: string, settings: Readonly<Record<string, string | number>>): Promise<void> {
    const args = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
    const r = await this.exec(ns, 'sysctl', ['-q', '-w', ...args]);
    if (r.status !== 0) throw new EnvironmentError(`sysctl in ${ns}: ${r.stderr.trim()}`);
  }

  /** Runs a program inside a namespace of this sandbox. */
  exec(ns: string, cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    this.#checkNs(ns);
    return run('ip', ['netns', 'exec', ns, cmd, ...args], options, this.#children);
  }

  /**
   * Starts a long-running program inside a namespace; `stop()` sends it SIGTERM (by pid; `ip netns
   * exec` execs the program, so the pid is the program's) and resolves with its output.
   */
  start(ns: string, cmd: string, args: readonly string[], timeoutMs = kDefaultTimeoutMs): { stop(): Promise<RunResult>; output(): string; errors(): string } {
    this.#checkNs(ns);
    let child: ChildProcess | undefined;
    let seen = '';
    let seenErr = '';
    const onSpawn = (c: ChildProcess): void => {
      child = c;
      c.stdout?.on('data', (d: Buffer) => (seen += d.toString('utf8')));
      c.stderr?.on('data', (d: Buffer) => (seenErr += d.toString('utf8')));
    };
    const done = run('ip', ['netns', 'exec', ns, cmd, ...args], { timeoutMs, onSpawn }, this.#children);
    return {
      /** What the program has printed so far (to wait until it is ready). */
      output: () => seen,
      /** What it has written to standard error so far (a warning it goes on after). */
      errors: () => seenErr,
      stop: async () => {
        if (child?.pid !== undefined && child.exitCode === null) child.kill('SIGTERM');
        return done;
      },
    };
  }

  #checkNs(ns: string): void {
    if (this.#disposed) throw new Error('sandbox already disposed');
    if (!this.#namespaces.includes(ns)) throw new Error(`${ns} is not a namespace of this sandbox`);
  }

  /** Kills our children and deletes our namespaces, each by its exact name. */
  async dispose(): Promise<void> {
    this.disposeSync();
  }

  disposeSync(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    live.delete(this);
    for (const c of this.#children) {
      if (c.pid !== undefined && c.exitCode === null) {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    for (const ns of [...this.#namespaces].reverse()) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    this.#namespaces.length = 0;
  }
}

/**
 * Runs a program, collecting its output; kills it by pid after the timeout. The child's fd 3 is
 * its lifeline (lifeline.ts): never written, closed by the kernel when this process ends.
 */
export function run(cmd: string, args: readonly string[], options: RunOptions = {}, children?: Set<ChildProcess>): Promise<RunResult> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe', 'pipe'], env: withoutHugetlb(process.env) });
    children?.add(child);
    options.onSpawn?.(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => {
      if (child.pid !== undefined && child.exitCode === null) child.kill('SIGKILL');
    }, options.timeoutMs ?? kDefaultTimeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      children?.delete(child);
      resolve({ status: 127, stdout: '', stderr: e.message, ms: performance.now() - t0 });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      children?.delete(child);
      const stderr = Buffer.concat(err).toString('utf8') + (signal ? `\n(killed by ${signal})` : '');
      resolve({ status: code ?? 128, stdout: Buffer.concat(out).toString('utf8'), stderr, ms: performance.now() - t0 });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}
