import { performance } from 'node:perf_hooks';
import { modeNames } from '../compile/index.js';
import { clusterFromObjects } from '../model/load.js';
import { kCnis } from '../model/read-config.js';
import { generateObjects, kDefaultSyntheticOptions } from '../model/synthetic.js';
import { choiceOption, EXIT_OK, intOption, parse, type Command } from './command.js';
import { UsageError } from '../errors.js';
import { writeOutput } from './output.js';
import { checkGenerateFile, checkGenerateHeap, kMaxTextChars } from './size-limits.js';

const help = `Usage: kdp generate --services N --endpoints E --nodes K [options]

Writes a synthetic cluster: a Kubernetes List (Nodes, Services, EndpointSlices, a ServiceCIDR,
a KubeProxyConfiguration, kdp's ClusterNetwork and, for Calico, an IPPool), the same shape
\`kubectl get ... -o json\` prints. It is deterministic for a seed. The model is built in memory
and validated before anything is written.

Options:
  --services N     number of Services (0-1000000)                         [required]
  --endpoints E    endpoints per Service (0-1000)                          [default: 10]
  --nodes K        number of Nodes (1-60000)                               [default: 3]
  --cni NAME       ${kCnis.join(' | ')}  [default: ${kDefaultSyntheticOptions.cni}]
  --mode MODE      kube-proxy mode written into the KubeProxyConfiguration: ${modeNames().join(" | ")}
                   [default: ${modeNames()[0]}]
  --seed S         PRNG seed (0-4294967295)                                [default: 1]
  --policies N     also write N network policies (0-1000000) and what they select: labelled
                   Namespaces and one Pod per endpoint address. The mix: a Calico
                   GlobalNetworkPolicy, per namespace a default deny and a mesh allow, then per
                   application an allow from monitoring on a port, an allow from another
                   application on a named port, an ipBlock egress limit. Enforced on Calico
                   CNIs only                                                [default: 0]
  -o, --output F   write to F (atomically) instead of standard output
  -q, --quiet      no summary on standard error
  -h, --help       this text

Example:
  kdp generate --services 1000 --endpoints 10 --nodes 10 -o cluster.json

Size: a cluster too large for this process is refused before anything is generated, with the
figure: one whose heap would pass V8's limit (raise it with NODE_OPTIONS=--max-old-space-size=MiB),
or whose file would pass the 512 MiB kdp reads back as one string (about 278,000 Services x 10
endpoints).

Exit status: 0 written; 2 bad usage, a cluster too large (above), or -o names a directory or a
missing one; 3 the file cannot be written (permissions, a read-only or full disk).
`;

export const generateCommand: Command = {
  name: 'generate',
  summary: 'write a synthetic cluster of any size (deterministic for a seed)',
  help,
  async run(argv) {
    const { values, positionals } = parse(argv, {
      services: { type: 'string' },
      endpoints: { type: 'string' },
      nodes: { type: 'string' },
      cni: { type: 'string' },
      mode: { type: 'string' },
      seed: { type: 'string' },
      policies: { type: 'string' },
      output: { type: 'string', short: 'o' },
      quiet: { type: 'boolean', short: 'q' },
    });
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    if (values.services === undefined) throw new UsageError('--services is required, e.g. --services 1000');
    const options = {
      services: intOption(values.services, 'services', 0, 0, 1_000_000),
      endpoints: intOption(values.endpoints, 'endpoints', 10, 0, 1000),
      nodes: intOption(values.nodes, 'nodes', 3, 1, 60_000),
      cni: choiceOption(values.cni, 'cni', kCnis, kDefaultSyntheticOptions.cni),
      mode: choiceOption(values.mode, 'mode', modeNames(), modeNames()[0]),
      seed: intOption(values.seed, 'seed', kDefaultSyntheticOptions.seed, 0, 0xffffffff),
      policies: intOption(values.policies, 'policies', 0, 0, 1_000_000),
    };
    checkGenerateHeap(options.services, options.endpoints);
    checkGenerateFile(options.services, options.endpoints);
    const t0 = performance.now();
    const objects = generateObjects(options);
    const t1 = performance.now();
    const cluster = clusterFromObjects(objects);
    const t2 = performance.now();
    if (!values.quiet) {
      process.stderr.write(
        `kdp generate: ${objects.length} objects, ${cluster.services.length} services, ${cluster.ports.length} service ports, ` +
          `${cluster.endpoints.count} endpoint rows on ${cluster.nodes.length} nodes${cluster.policies.length > 0 ? `, ${cluster.pods.length} pods, ${cluster.policies.length} network policies` : ''}; ` +
          `generated in ${((t1 - t0) / 1000).toFixed(2)} s, model built and validated in memory in ${((t2 - t1) / 1000).toFixed(2)} s\n`,
      );
    }
    const written = { bytes: 0 };
    await writeOutput(values.output, listChunks(objects, written));
    // The estimate above refused what is clearly too big; a file just over the line is said so.
    if (written.bytes > kMaxTextChars) process.stderr.write(`kdp generate: warning: the file is ${written.bytes.toLocaleString('en-US')} bytes, over the ${kMaxTextChars.toLocaleString('en-US')} kdp reads as one string: kdp cannot read it back\n`);
    return EXIT_OK;
  },
};

/** Streams the List item by item, so a million-endpoint cluster never becomes one huge string. */
function* listChunks(objects: readonly object[], written: { bytes: number }): Iterable<string> {
  const small = objects.length <= 2000;
  const head = '{\n  "apiVersion": "v1",\n  "kind": "List",\n  "metadata": {},\n  "items": [\n';
  written.bytes += head.length;
  yield head;
  for (let i = 0; i < objects.length; i++) {
    const text = small ? JSON.stringify(objects[i], null, 2).replace(/^/gm, '    ') : `    ${JSON.stringify(objects[i])}`;
    const chunk = i + 1 < objects.length ? `${text},\n` : `${text}\n`;
    // Names and labels are ASCII: one byte per character.
    written.bytes += chunk.length;
    yield chunk;
  }
  written.bytes += 5;
  yield '  ]\n}\n';
}
