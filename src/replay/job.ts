/**
 * A sharded sweep as a Kubernetes `batch/v1` Job: N pods of an Indexed Job, pod I running
 * `kdp bench --shards N` (shard I from JOB_COMPLETION_INDEX, which the Job controller sets in
 * every pod of an Indexed Job), so kdp needs no scheduler of its own: the cluster spreads the
 * shards over its nodes, retries a failed index, and keeps the logs.
 *
 * Kubernetes semantics the manifest relies on (Job API reference, and the batch/v1 OpenAPI schema
 * vendored in test/fixtures/kubernetes-openapi/):
 * - `completionMode: Indexed` with `completions: N`: one successful pod per index 0..N-1.
 * - `backoffLimitPerIndex` (beta and on by default in 1.29, GA in 1.33; alpha behind a gate in
 *   1.28): each index is retried on its own, so one failing shard does not use up the others'
 *   retries; it needs `restartPolicy: Never`.
 * - `podFailurePolicy` (GA in 1.31): exit status 2 (bad usage: every index would fail alike)
 *   fails the Job at once; a pod evicted or preempted (condition DisruptionTarget) is replaced
 *   without counting as a failure.
 * - Guaranteed QoS: every container's requests equal its limits for CPU and memory; with a whole
 *   number of CPUs, the kubelet's static CPU manager gives the container exclusive cores, so the
 *   replay's worker threads are not time-shared with other pods.
 */

/** Where the shards' results go. */
export type JobResults = { readonly kind: 'stdout' } | { readonly kind: 'pvc'; readonly claim: string };

export interface JobOptions {
  /** The Job's name (a DNS label); also the results directory under /results. */
  readonly name: string;
  readonly image: string;
  readonly shards: number;
  readonly parallelism: number;
  /** The sweep's flags, passed to every shard as given (`--services 10,100 --modes iptables`). */
  readonly benchArgs: readonly string[];
  readonly results: JobResults;
  /** Whole CPUs per pod: requests = limits, and the default workers sweep goes up to it (--cores). */
  readonly cpu: number;
  /** Memory per pod, a Kubernetes quantity (`4Gi`): requests = limits. */
  readonly memory: string;
  /** Retries of each index (backoffLimitPerIndex). */
  readonly retriesPerIndex: number;
}

/** Where the results volume is mounted in the pod. */
export const kResultsMount = '/results';
/** The container's name, which the pod failure policy's exit-code rule names. */
export const kContainerName = 'kdp';
/** Exit status of `kdp` for bad usage (README): the same in every index, so not worth a retry. */
const kExitUsage = 2;

/** The Job, as a plain object ready for JSON or YAML. */
export function jobManifest(o: JobOptions): Record<string, unknown> {
  const labels = { 'app.kubernetes.io/name': 'kdp', 'app.kubernetes.io/component': 'bench', 'app.kubernetes.io/instance': o.name };
  const quantity = { cpu: String(o.cpu), memory: o.memory };
  const args = [
    'bench',
    ...o.benchArgs,
    '--cores', String(o.cpu),
    '--shards', String(o.shards),
    '--out', `${kResultsMount}/${o.name}`,
    // stdout: the log is the result (an emptyDir does not outlive its pod, so a retry starts over);
    // a volume: a retried index continues where the failed pod stopped.
    ...(o.results.kind === 'stdout' ? ['--stdout'] : ['--resume']),
  ];
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: o.name, labels },
    spec: {
      completionMode: 'Indexed',
      completions: o.shards,
      parallelism: o.parallelism,
      backoffLimitPerIndex: o.retriesPerIndex,
      podFailurePolicy: {
        rules: [
          { action: 'FailJob', onExitCodes: { containerName: kContainerName, operator: 'In', values: [kExitUsage] } },
          { action: 'Ignore', onPodConditions: [{ type: 'DisruptionTarget', status: 'True' }] },
        ],
      },
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          // The image runs as its `node` user (uid and gid 1000): fsGroup makes the results volume writable to it.
          securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000 },
          containers: [
            {
              name: kContainerName,
              image: o.image,
              args,
              env: [{ name: 'KDP_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
              resources: { requests: { ...quantity }, limits: { ...quantity } },
              volumeMounts: [{ name: 'results', mountPath: kResultsMount }],
            },
          ],
          volumes: [o.results.kind === 'pvc' ? { name: 'results', persistentVolumeClaim: { claimName: o.results.claim } } : { name: 'results', emptyDir: {} }],
        },
      },
    },
  };
}
