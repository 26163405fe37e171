/**
 * `kdp job`: prints a sweep as a Kubernetes Indexed Job (src/replay/job.ts), for
 * `kdp job ... | kubectl apply -f -`. It plans the sweep here, with the same flags and code the
 * pods will use, so a flag mistake is caught before any pod starts.
 */
import { stringify } from 'yaml';
import { UsageError } from '../errors.js';
import { jobManifest, kResultsMount, type JobResults } from '../replay/job.js';
import { kSweepFlags, planFromFlags } from './bench.js';
import { choiceOption, EXIT_OK, intOption, parse, type Command } from './command.js';

const help = `Usage: kdp job --shards N [bench flags] [--parallelism P] [--image IMAGE]
                [--results pvc:CLAIM|stdout] [--cpu C] [--memory Q] [--name NAME]
                [--retries R] [--format yaml|json]

Prints a batch/v1 Job that runs a kdp bench sweep split in N shards, one pod per shard
(completionMode: Indexed, completions: N). Pod I runs \`kdp bench --shards N\` with the sweep's
flags and takes I from JOB_COMPLETION_INDEX, so it runs the cells whose key hashes to I (see
kdp bench --help: --plan, --shard). Apply it with \`kdp job ... | kubectl apply -f -\`.

Bench flags (the sweep, as kdp bench takes them): --services, --endpoints, --modes, --cni,
--workers, --flows, --seed, --zipf, --conntrack, --repeats, --full.

Options:
  --shards N          shards = pods = the Job's completions                      (required)
  --parallelism P     pods running at once                                       [default: N]
  --image IMAGE       the kdp image (the repository's Dockerfile builds it)      [default: kdp:latest]
  --results WHERE     stdout: each pod prints its machine record, plan and results as JSON
                      lines, collected with
                        kubectl logs -l batch.kubernetes.io/job-name=NAME --tail=-1 > kdp.log
                        kdp report --results kdp.log
                      pvc:CLAIM: each pod writes ${kResultsMount}/NAME/shard-I-of-N/ on that
                      PersistentVolumeClaim (ReadWriteMany when pods run on several nodes), and a
                      retried index resumes where it stopped; kdp report --results DIR/NAME
                      merges them                                                [default: stdout]
  --cpu C             whole CPUs per pod, requests = limits (Guaranteed QoS, so the kubelet's static
                      CPU manager can give the workers exclusive cores); the default workers sweep
                      goes up to C, and no cell may have more workers             [default: 2]
  --memory Q          memory per pod, requests = limits                           [default: 4Gi]
  --name NAME         the Job's name                                              [default: kdp-bench]
  --retries R         retries of each failed index (backoffLimitPerIndex)         [default: 1]
  --format F          yaml or json                                                [default: yaml]
  -h, --help          this text

The Job needs Kubernetes 1.29 or newer: backoffLimitPerIndex is beta (on by default) from 1.29 and
GA in 1.33 (alpha, off by default, in 1.28); podFailurePolicy is GA from 1.31 (beta, on by default,
1.26-1.30). Exit status: 0 printed; 2 bad usage.
`;

export const jobCommand: Command = {
  name: 'job',
  summary: 'print a sharded kdp bench sweep as a Kubernetes Indexed Job (kubectl apply -f -)',
  help,
  async run(argv) {
    const { values, positionals } = parse(argv, {
      ...kSweepFlags,
      shards: { type: 'string' },
      parallelism: { type: 'string' },
      image: { type: 'string' },
      results: { type: 'string' },
      cpu: { type: 'string' },
      memory: { type: 'string' },
      name: { type: 'string' },
      retries: { type: 'string' },
      format: { type: 'string' },
    });
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    if (values.shards === undefined) throw new UsageError('--shards N is required: the number of pods the sweep is split over, e.g. --shards 8');
    const shards = intOption(values.shards, 'shards', 1, 1, 100_000);
    const parallelism = intOption(values.parallelism, 'parallelism', shards, 1, shards);
    const cpu = intOption(values.cpu, 'cpu', 2, 1, 256);
    const memory = values.memory ?? '4Gi';
    // A Kubernetes quantity (resource.Quantity's serialization format), as the API server would refuse anything else.
    if (!/^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/.test(memory)) throw new UsageError(`--memory takes a Kubernetes quantity such as 4Gi or 512Mi, not "${memory}"`);
    const name = values.name ?? 'kdp-bench';
    // The Job's name goes into its pods' names and labels: a DNS label, short enough for both.
    if (!/^[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?$/.test(name)) throw new UsageError(`--name takes a DNS label of at most 53 characters (lower-case letters, digits, '-'), not "${name}"`);
    const results = resultsOption(values.results);
    const format = choiceOption(values.format, 'format', ['yaml', 'json'] as const, 'yaml');
    const cells = planFromFlags(values, cpu, (why) => process.stderr.write(`kdp job: ${why}\n`));
    const most = Math.max(1, ...cells.map((c) => c.workers));
    if (most > cpu) throw new UsageError(`a cell runs ${most} workers but --cpu is ${cpu}: give --cpu ${most} or more, or fewer --workers, so that no worker shares a core`);
    const benchArgs: string[] = [];
    for (const k of Object.keys(kSweepFlags) as (keyof typeof kSweepFlags)[]) {
      const v = values[k];
      if (v === true) benchArgs.push(`--${k}`);
      else if (typeof v === 'string') benchArgs.push(`--${k}`, v);
    }
    const job = jobManifest({ name, image: values.image ?? 'kdp:latest', shards, parallelism, benchArgs, results, cpu, memory, retriesPerIndex: intOption(values.retries, 'retries', 1, 0, 100) });
    process.stdout.write(format === 'json' ? `${JSON.stringify(job, null, 2)}\n` : stringify(job, { aliasDuplicateObjects: false }));
    process.stderr.write(`kdp job: ${cells.length} cells over ${shards} shards (${parallelism} at once), ${cpu} CPU and ${memory} per pod; \`kdp bench --plan --shards ${shards} --cores ${cpu} ${benchArgs.join(' ')}\` lists them\n`);
    return EXIT_OK;
  },
};

function resultsOption(value: string | undefined): JobResults {
  if (value === undefined || value === 'stdout') return { kind: 'stdout' };
  const m = /^pvc:([a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?)$/.exec(value);
  if (!m) throw new UsageError(`--results takes stdout or pvc:CLAIM (a PersistentVolumeClaim's name), not "${value}"`);
  return { kind: 'pvc', claim: m[1]! };
}
