/** Text in, model out: the one entry point for cluster files. */
import { InvalidClusterError } from '../errors.js';
import { buildCluster, type BuildOptions, type BuildResult } from './build.js';
import { hasErrors } from './diagnostics.js';
import { inMemorySource, parseSource } from './source.js';
import type { Cluster } from './types.js';

/** Parses and builds; never throws for bad input (see `diagnostics`). */
export function loadCluster(text: string, file?: string, options: BuildOptions = {}): BuildResult {
  const parsed = parseSource(text, file);
  if (hasErrors(parsed.diagnostics)) return { diagnostics: parsed.diagnostics, kinds: {} };
  const built = buildCluster(parsed.objects, file, options);
  return { ...built, diagnostics: [...parsed.diagnostics, ...built.diagnostics] };
}

/** For callers that cannot go on without a model: throws InvalidClusterError listing every problem. */
export function loadClusterOrThrow(text: string, file?: string): Cluster {
  const { cluster, diagnostics } = loadCluster(text, file);
  if (!cluster) throw new InvalidClusterError(diagnostics);
  return cluster;
}

/** Builds a model from objects already in memory (the synthetic generator's fast path). */
export function clusterFromObjects(objects: readonly unknown[]): Cluster {
  const { cluster, diagnostics } = buildCluster(inMemorySource(objects));
  if (!cluster) throw new InvalidClusterError(diagnostics);
  return cluster;
}
