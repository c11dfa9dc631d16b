import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  CHART,
  HELM_BUILD_TIMEOUT_MS,
  PRODUCTION_VALUES,
  ROOT,
  buildTemplateArgs,
  buildValidator,
  findManifest,
  installHelm,
  ofKind,
  renderChart,
  runHelm,
  validateManifests,
  type Manifest,
} from './helm.ts';

// Loosely typed Kubernetes fragments: the tests check fields, not types.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

const RELEASE = 'swb';
const NAMESPACE = 'chat';
const PREFIX = `${RELEASE}-switchboard`;
const WORKLOADS = [
  { component: 'router', kind: 'Deployment' },
  { component: 'api', kind: 'Deployment' },
  { component: 'persister', kind: 'Deployment' },
  { component: 'push-worker', kind: 'Deployment' },
  { component: 'chat-node', kind: 'StatefulSet' },
] as const;
const STATELESS = ['router', 'api', 'persister', 'push-worker'] as const;

/** Files whose `SWB_` variables every service reads: the engines' settings and the logger. */
const SHARED_SOURCES = ['libs/cluster/src/cluster-config.ts', 'libs/core/src/logger.ts'];

/**
 * Variables the chart may leave unset. SWB_METRICS_PORT is set only where /metrics has a
 * port of its own; elsewhere the service port serves it.
 */
const OPTIONAL_VARIABLES = new Set(['SWB_METRICS_PORT']);

/**
 * Variables of the push providers. The chart sets those of the providers that are enabled, and
 * none is enabled by default; the production example enables all three.
 */
const PUSH_PROVIDER_VARIABLES = new Set([
  'SWB_PUSH_VAPID_PUBLIC_KEY',
  'SWB_PUSH_VAPID_PRIVATE_KEY',
  'SWB_PUSH_VAPID_SUBJECT',
  'SWB_PUSH_ALLOWED_HOSTS',
  'SWB_PUSH_FCM_SERVICE_ACCOUNT_FILE',
  'SWB_PUSH_FCM_API_ORIGIN',
  'SWB_PUSH_APNS_KEY_FILE',
  'SWB_PUSH_APNS_KEY_ID',
  'SWB_PUSH_APNS_TEAM_ID',
  'SWB_PUSH_APNS_TOPIC',
  'SWB_PUSH_APNS_ORIGIN',
  'SWB_PUSH_APNS_CA_FILE',
]);

/** Lists the TypeScript files of a directory tree, without tests and test helpers. */
function listSources(directory: string): string[] {
  return readdirSync(resolve(ROOT, directory), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts') && !file.includes('testing'))
    .map((file) => join(directory, file));
}

/** Lists the SWB_ variables a service reads, from its sources and the shared ones. */
function readServiceVariables(component: string): Set<string> {
  const own = listSources(`services/${component}/src`).map((file) =>
    readFileSync(resolve(ROOT, file), 'utf8'),
  );
  const shared = SHARED_SOURCES.map((file) => readFileSync(resolve(ROOT, file), 'utf8'));
  const variables = new Set<string>();
  for (const text of [...own, ...shared]) {
    for (const match of text.matchAll(/['"`](SWB_[A-Z0-9_]+)['"`]/g)) {
      if (!match[1]!.startsWith('SWB_ERR_')) variables.add(match[1]!);
    }
  }
  // readTokenSecret lives in the shared config file, but not every service calls it.
  if (own.some((text) => text.includes('readTokenSecret('))) variables.add('SWB_TOKEN_SECRET');
  else variables.delete('SWB_TOKEN_SECRET');
  return variables;
}

function workload(manifests: Manifest[], component: string): Manifest {
  const kind = component === 'chat-node' ? 'StatefulSet' : 'Deployment';
  return findManifest(manifests, kind, `${PREFIX}-${component}`);
}

function mainContainer(manifest: Manifest): Json {
  const containers = manifest.spec.template.spec.containers as Json[];
  expect(containers, `${manifest.metadata.name} has one container`).toHaveLength(1);
  return containers[0];
}

function envEntry(container: Json, name: string): Json {
  return (container.env as Json[]).find((entry) => entry.name === name);
}

/** Variables a container gets: its env list plus every key of the ConfigMaps in envFrom. */
function effectiveVariables(manifests: Manifest[], container: Json): Map<string, Json> {
  const variables = new Map<string, Json>();
  for (const source of container.envFrom ?? []) {
    if (!source.configMapRef) continue;
    const configMap = findManifest(manifests, 'ConfigMap', source.configMapRef.name);
    for (const [key, value] of Object.entries(configMap.data ?? {})) variables.set(key, { value });
  }
  for (const entry of container.env ?? []) variables.set(entry.name, entry);
  return variables;
}

function matchesSelector(
  labels: Record<string, string> | undefined,
  selector: Record<string, string>,
): boolean {
  return Object.entries(selector).every(([key, value]) => labels?.[key] === value);
}

function drainWindowSeconds(manifest: Manifest): number {
  const entry = envEntry(mainContainer(manifest), 'SWB_DRAIN_WINDOW_MS');
  return Number(entry.value) / 1000;
}

let helm = '';
let validator = '';
let buildDirectory = '';

beforeAll(async () => {
  buildDirectory = mkdtempSync(join(tmpdir(), 'switchboard-validator-'));
  [helm, validator] = await Promise.all([installHelm(), buildValidator(buildDirectory)]);
}, HELM_BUILD_TIMEOUT_MS);

afterAll(() => {
  if (buildDirectory) rmSync(buildDirectory, { recursive: true, force: true });
});

describe('rendered manifests', () => {
  it.each([
    ['default values', { valuesFiles: [] as string[], set: [] as string[] }],
    ['the production example', { valuesFiles: [PRODUCTION_VALUES], set: [] }],
    [
      'every optional object',
      {
        valuesFiles: [],
        set: [
          'ingress.enabled=true',
          'metrics.serviceMonitor.enabled=true',
          'metrics.prometheusRule.enabled=true',
          'metrics.dashboard.enabled=true',
          'chatNode.sysctls.enableUnsafe=true',
          'chatNode.metricsPort=9465',
          'redis.existingSecret=redis-url',
          'tokenSecret.value=0123456789abcdef0123456789abcdef',
        ],
      },
    ],
  ])('decode strictly with %s', async (_name, options) => {
    const args = buildTemplateArgs(options);
    const rendered = await runHelm(helm, args);
    expect(rendered.code, rendered.stderr).toBe(0);
    const result = await validateManifests(validator, rendered.stdout);
    expect(result.stdout + result.stderr, 'problems found by deploy/tools/validate-manifests').toMatch(
      /documents valid/,
    );
    expect(result.code).toBe(0);
  });

  it('reject an unknown field', async () => {
    const rendered = await runHelm(helm, buildTemplateArgs({}));
    const broken = rendered.stdout.replace('minReadySeconds:', 'minReadySecond:');
    const result = await validateManifests(validator, broken);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('unknown field "spec.minReadySecond"');
  });
});

describe('helm lint', () => {
  it('passes --strict with default values', async () => {
    const result = await runHelm(helm, ['lint', '--strict', CHART]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
  });

  it('passes --strict with the production example', async () => {
    const result = await runHelm(helm, ['lint', '--strict', CHART, '--values', PRODUCTION_VALUES]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
  });

  it('passes the umbrella chart but for its dependencies', async () => {
    // Its dependencies come from a chart registry that `helm dependency build` needs.
    const result = await runHelm(helm, ['lint', resolve(ROOT, 'deploy/helm/switchboard-stack')]);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('missing these dependencies: switchboard,redis,kafka,cassandra');
    expect(result.stdout).not.toContain('[ERROR]');
  });
});

describe('chart with default values', () => {
  let manifests: Manifest[] = [];

  beforeAll(async () => {
    manifests = await renderChart(helm, { release: RELEASE, namespace: NAMESPACE });
  });

  it('renders the five workloads', () => {
    for (const { component, kind } of WORKLOADS) {
      expect(findManifest(manifests, kind, `${PREFIX}-${component}`).kind).toBe(kind);
    }
  });

  it.each(WORKLOADS.map((entry) => entry.component))('gives %s probes on a declared port', (component) => {
    const container = mainContainer(workload(manifests, component));
    const ports = new Map((container.ports as Json[]).map((port) => [port.name, port.containerPort]));
    expect(ports.size).toBeGreaterThan(0);
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
      const httpGet = container[probe]?.httpGet;
      expect(httpGet, `${component} ${probe}`).toBeDefined();
      expect(ports.has(httpGet.port), `${component} ${probe} port ${httpGet.port}`).toBe(true);
    }
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
  });

  it('probes the chat node on its WebSocket port', () => {
    const container = mainContainer(workload(manifests, 'chat-node'));
    expect(container.ports).toEqual([{ name: 'ws', containerPort: 9001, protocol: 'TCP' }]);
    expect(envEntry(container, 'SWB_CHAT_PORT').value).toBe('9001');
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'ws' });
  });

  it('probes the persister on its metrics port', () => {
    const container = mainContainer(workload(manifests, 'persister'));
    expect(container.ports).toEqual([{ name: 'metrics', containerPort: 9464, protocol: 'TCP' }]);
    expect(envEntry(container, 'SWB_METRICS_PORT').value).toBe('9464');
    expect(container.livenessProbe.httpGet.port).toBe('metrics');
  });

  it('probes the push worker on its metrics port and configures no provider', () => {
    const container = mainContainer(workload(manifests, 'push-worker'));
    expect(container.ports).toEqual([{ name: 'metrics', containerPort: 9465, protocol: 'TCP' }]);
    expect(envEntry(container, 'SWB_METRICS_PORT').value).toBe('9465');
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(envEntry(container, 'SWB_PUSH_COLLAPSE_INTERVAL_MS').value).toBe('2000');
    for (const name of PUSH_PROVIDER_VARIABLES) expect(envEntry(container, name), name).toBeUndefined();
    expect(envEntry(container, 'SWB_TOKEN_SECRET')).toBeUndefined();
    expect(ofKind(manifests, 'Secret').map((secret) => secret.metadata.name)).not.toContain(
      `${PREFIX}-push-credentials`,
    );
  });

  it.each([
    ['router', 'SWB_ROUTER_PORT', '8081'],
    ['api', 'SWB_API_PORT', '8080'],
  ])('serves %s on the port its variable names', (component, variable, port) => {
    const container = mainContainer(workload(manifests, component));
    expect(envEntry(container, variable).value).toBe(port);
    expect(container.ports).toEqual([{ name: 'http', containerPort: Number(port), protocol: 'TCP' }]);
  });

  it.each(WORKLOADS.map((entry) => entry.component))('sets every SWB_ variable %s reads', (component) => {
    const container = mainContainer(workload(manifests, component));
    const variables = effectiveVariables(manifests, container);
    const missing = [...readServiceVariables(component)].filter(
      (name) => !variables.has(name) && !OPTIONAL_VARIABLES.has(name) && !PUSH_PROVIDER_VARIABLES.has(name),
    );
    expect(missing, `add these to the chart's values and templates`).toEqual([]);
    expect(variables.get('SWB_HOST')?.value).toBe('0.0.0.0');
  });

  it('names each chat node after its pod', () => {
    const container = mainContainer(workload(manifests, 'chat-node'));
    const names = (container.env as Json[]).map((entry) => entry.name);
    expect(envEntry(container, 'SWB_NODE_ID').valueFrom).toEqual({
      fieldRef: { fieldPath: 'metadata.name' },
    });
    // $(SWB_NODE_ID) expands only when SWB_NODE_ID comes first in the list.
    expect(names.indexOf('SWB_NODE_ID')).toBeLessThan(names.indexOf('SWB_PUBLIC_URL'));
    expect(envEntry(container, 'SWB_PUBLIC_URL').value).toBe(
      `ws://$(SWB_NODE_ID).${PREFIX}-chat-node-headless.${NAMESPACE}.svc.cluster.local:9001/ws`,
    );
  });

  it('reads the token secret from the generated Secret', () => {
    const secret = findManifest(manifests, 'Secret', `${PREFIX}-token`);
    const value = Buffer.from(secret.data!['token-secret']!, 'base64').toString();
    expect(value.length).toBeGreaterThanOrEqual(32);
    for (const component of ['router', 'api', 'chat-node']) {
      const entry = envEntry(mainContainer(workload(manifests, component)), 'SWB_TOKEN_SECRET');
      expect(entry?.valueFrom?.secretKeyRef, component).toEqual({
        name: `${PREFIX}-token`,
        key: 'token-secret',
      });
    }
  });

  it('keeps the token secret away from the persister', () => {
    const container = mainContainer(workload(manifests, 'persister'));
    expect(envEntry(container, 'SWB_TOKEN_SECRET')).toBeUndefined();
  });

  it('points the engines at the default external addresses', () => {
    const config = findManifest(manifests, 'ConfigMap', `${PREFIX}-config`).data!;
    expect(config.SWB_REDIS_URL).toBe('redis://redis-master:6379');
    expect(config.SWB_KAFKA_BROKERS).toBe('kafka:9092');
    expect(config.SWB_CASSANDRA_CONTACT_POINTS).toBe('cassandra:9042');
    expect(config.SWB_KAFKA_PARTITIONS).toBe('12');
    expect(config.SWB_REFRESH_TTL_SECONDS).toBe('2592000');
  });

  it.each(WORKLOADS.map((entry) => entry.component))('locks down the %s pod', (component) => {
    const pod = workload(manifests, component).spec.template.spec;
    expect(pod.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 10001,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.automountServiceAccountToken).toBe(false);
    for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
      expect(container.securityContext, container.name).toMatchObject({
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        privileged: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
    }
    const tmp = (pod.volumes as Json[]).find((volume) => volume.name === 'tmp');
    expect(tmp.emptyDir.sizeLimit).toBe('64Mi');
    expect(mainContainer(workload(manifests, component)).volumeMounts).toContainEqual({
      name: 'tmp',
      mountPath: '/tmp',
    });
  });

  it.each(WORKLOADS.map((entry) => entry.component))('gives %s requests and a memory limit', (component) => {
    const container = mainContainer(workload(manifests, component));
    expect(container.resources.requests.cpu).toBeDefined();
    expect(container.resources.requests.memory).toBeDefined();
    expect(container.resources.limits.memory).toBeDefined();
    expect(envEntry(container, 'NODE_OPTIONS').value).toMatch(/^--max-old-space-size=\d+$/);
  });

  it('runs chat nodes as a StatefulSet behind a headless Service', () => {
    const statefulSet = workload(manifests, 'chat-node');
    const service = findManifest(manifests, 'Service', statefulSet.spec.serviceName);
    expect(service.spec.clusterIP).toBe('None');
    expect(service.spec.publishNotReadyAddresses).toBe(true);
    expect(matchesSelector(statefulSet.spec.template.metadata.labels, service.spec.selector)).toBe(true);
    expect(service.spec.ports).toContainEqual({ name: 'ws', port: 9001, targetPort: 'ws', protocol: 'TCP' });
    expect(statefulSet.spec.updateStrategy.type).toBe('RollingUpdate');
    expect(statefulSet.spec.minReadySeconds).toBeGreaterThan(0);
  });

  it('lets a chat node drain before it is killed', () => {
    const statefulSet = workload(manifests, 'chat-node');
    const grace = statefulSet.spec.template.spec.terminationGracePeriodSeconds as number;
    expect(grace).toBeGreaterThan(drainWindowSeconds(statefulSet));
    expect(grace).toBe(32);
  });

  it('sets the safe sysctl and checks the open-file limit', () => {
    const pod = workload(manifests, 'chat-node').spec.template.spec;
    expect(pod.securityContext.sysctls).toEqual([
      { name: 'net.ipv4.ip_local_port_range', value: '1024 65535' },
    ]);
    const check = (pod.initContainers as Json[]).find((container) => container.name === 'check-nofile');
    expect(check.command.join(' ')).toContain('ulimit -Hn');
    expect(check.env).toContainEqual({ name: 'SWB_NOFILE_MINIMUM', value: '131072' });
    expect(envEntry(mainContainer(workload(manifests, 'chat-node')), 'NODE_OPTIONS').value).toBe(
      '--max-old-space-size=1024',
    );
  });

  it('gives every workload a PodDisruptionBudget', () => {
    for (const { component } of WORKLOADS) {
      const budget = findManifest(manifests, 'PodDisruptionBudget', `${PREFIX}-${component}`);
      const labels = workload(manifests, component).spec.template.metadata.labels;
      expect(matchesSelector(labels, budget.spec.selector.matchLabels), component).toBe(true);
      expect(budget.spec.maxUnavailable, component).toBe(1);
    }
  });

  it('autoscales the stateless services on CPU', () => {
    for (const component of STATELESS) {
      const autoscaler = findManifest(manifests, 'HorizontalPodAutoscaler', `${PREFIX}-${component}`);
      expect(autoscaler.apiVersion).toBe('autoscaling/v2');
      expect(autoscaler.spec.scaleTargetRef).toEqual({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: `${PREFIX}-${component}`,
      });
      expect(autoscaler.spec.metrics[0].resource).toEqual({
        name: 'cpu',
        target: { type: 'Utilization', averageUtilization: 70 },
      });
      // The autoscaler owns the replica count; a value here would fight it on every upgrade.
      expect(workload(manifests, component).spec.replicas, component).toBeUndefined();
    }
    const persister = findManifest(manifests, 'HorizontalPodAutoscaler', `${PREFIX}-persister`);
    expect(persister.spec.maxReplicas).toBeLessThanOrEqual(12);
    expect(ofKind(manifests, 'HorizontalPodAutoscaler').map((item) => item.metadata.name)).not.toContain(
      `${PREFIX}-chat-node`,
    );
  });

  it('admits client traffic to chat nodes from the ingress controller only', () => {
    const policy = findManifest(manifests, 'NetworkPolicy', `${PREFIX}-chat-node`);
    expect(policy.spec.policyTypes).toEqual(['Ingress', 'Egress']);
    expect(policy.spec.podSelector.matchLabels).toMatchObject({ 'app.kubernetes.io/component': 'chat-node' });
    expect(policy.spec.ingress).toEqual([
      {
        from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'ingress-nginx' } } }],
        ports: [{ port: 9001, protocol: 'TCP' }],
      },
      {
        from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }],
        ports: [{ port: 9001, protocol: 'TCP' }],
      },
    ]);
  });

  it.each([
    ['chat-node', [6379, 9092, 9042]],
    ['router', [6379]],
    ['api', [9092, 9042]],
    ['persister', [9092, 9042]],
    ['push-worker', [9092, 9042, 443]],
  ])('lets %s reach DNS and only its engines', (component, enginePorts) => {
    const policy = findManifest(manifests, 'NetworkPolicy', `${PREFIX}-${component}`);
    const rules = policy.spec.egress as Json[];
    expect(rules[0].ports).toEqual([
      { port: 53, protocol: 'UDP' },
      { port: 53, protocol: 'TCP' },
    ]);
    expect(rules[0].to[0].podSelector.matchLabels).toEqual({ 'k8s-app': 'kube-dns' });
    const ports = rules.slice(1).flatMap((rule) => rule.ports.map((port: Json) => port.port));
    expect(ports).toEqual(enginePorts);
  });

  it.each([
    ['persister', 9464],
    ['push-worker', 9465],
  ])('lets the %s accept only scrapes', (component, port) => {
    const policy = findManifest(manifests, 'NetworkPolicy', `${PREFIX}-${component}`);
    expect(policy.spec.ingress).toHaveLength(1);
    expect(policy.spec.ingress[0].ports).toEqual([{ port, protocol: 'TCP' }]);
  });

  it('renders no monitoring objects and no ingress unless asked', () => {
    for (const kind of ['ServiceMonitor', 'PrometheusRule', 'Ingress']) {
      expect(ofKind(manifests, kind), kind).toEqual([]);
    }
    expect(manifests.find((item) => item.metadata.name === `${PREFIX}-dashboard`)).toBeUndefined();
  });

  it('restarts pods when the configuration changes', async () => {
    const changed = await renderChart(helm, {
      release: RELEASE,
      namespace: NAMESPACE,
      set: ['kafka.brokers=broker-a:9092'],
    });
    for (const { component } of WORKLOADS) {
      const before = workload(manifests, component).spec.template.metadata.annotations['checksum/config'];
      const after = workload(changed, component).spec.template.metadata.annotations['checksum/config'];
      expect(after, component).not.toBe(before);
    }
  });
});

describe('chart with the production example', () => {
  let manifests: Manifest[] = [];
  let values: Json;

  beforeAll(async () => {
    manifests = await renderChart(helm, {
      release: RELEASE,
      namespace: NAMESPACE,
      valuesFiles: [PRODUCTION_VALUES],
    });
    values = parse(readFileSync(PRODUCTION_VALUES, 'utf8'));
  });

  it('uses the existing token Secret instead of creating one', () => {
    expect(ofKind(manifests, 'Secret')).toEqual([]);
    const entry = envEntry(mainContainer(workload(manifests, 'chat-node')), 'SWB_TOKEN_SECRET');
    expect(entry.valueFrom.secretKeyRef).toEqual({ name: 'switchboard-token', key: 'token-secret' });
  });

  it('reads the Redis URL from its Secret where Redis is used', () => {
    const config = findManifest(manifests, 'ConfigMap', `${PREFIX}-config`).data!;
    expect(config.SWB_REDIS_URL).toBeUndefined();
    for (const component of ['router', 'chat-node']) {
      const entry = envEntry(mainContainer(workload(manifests, component)), 'SWB_REDIS_URL');
      expect(entry?.valueFrom?.secretKeyRef, component).toEqual({
        name: 'switchboard-redis',
        key: 'redis-url',
      });
    }
    for (const component of ['api', 'persister']) {
      expect(
        envEntry(mainContainer(workload(manifests, component)), 'SWB_REDIS_URL'),
        component,
      ).toBeUndefined();
    }
  });

  it('passes the engine addresses through', () => {
    const config = findManifest(manifests, 'ConfigMap', `${PREFIX}-config`).data!;
    expect(config.SWB_KAFKA_BROKERS).toBe(values.kafka.brokers);
    expect(config.SWB_KAFKA_REPLICATION_FACTOR).toBe('3');
    expect(config.SWB_KAFKA_PARTITIONS).toBe('48');
    expect(config.SWB_CASSANDRA_CONTACT_POINTS).toBe(values.cassandra.contactPoints);
    expect(config.SWB_CASSANDRA_DC).toBe('dc1');
  });

  it('pulls images from the configured registry', () => {
    for (const { component } of WORKLOADS) {
      expect(mainContainer(workload(manifests, component)).image).toBe(
        `registry.example.com/switchboard/switchboard-${component}:0.1.0`,
      );
    }
  });

  it('routes /v1/route and /v1/ring to the router and the rest to the api', () => {
    const ingress = findManifest(manifests, 'Ingress', PREFIX);
    expect(ingress.spec.ingressClassName).toBe('nginx');
    const paths = ingress.spec.rules[0].http.paths as Json[];
    const routes = paths.map((path) => [path.path, path.pathType, path.backend.service.name]);
    expect(routes).toEqual([
      ['/v1/route', 'Exact', `${PREFIX}-router`],
      ['/v1/ring', 'Exact', `${PREFIX}-router`],
      ['/v1', 'Prefix', `${PREFIX}-api`],
      ['/docs', 'Prefix', `${PREFIX}-api`],
    ]);
    for (const path of paths) {
      const service = findManifest(manifests, 'Service', path.backend.service.name);
      const names = (service.spec.ports as Json[]).map((port) => port.name);
      expect(names).toContain(path.backend.service.port.name);
    }
  });

  it('gives each chat node pod its own host and Service', () => {
    const statefulSet = workload(manifests, 'chat-node');
    const replicas = statefulSet.spec.replicas as number;
    expect(replicas).toBe(6);
    const publicUrl = envEntry(mainContainer(statefulSet), 'SWB_PUBLIC_URL').value as string;
    expect(publicUrl).toBe('wss://$(SWB_NODE_ID).chat.example.com/ws');

    const ingress = findManifest(manifests, 'Ingress', `${PREFIX}-chat-node`);
    const rules = ingress.spec.rules as Json[];
    expect(rules).toHaveLength(replicas);
    for (let ordinal = 0; ordinal < replicas; ordinal++) {
      const pod = `${PREFIX}-chat-node-${ordinal}`;
      const url = new URL(publicUrl.replace('$(SWB_NODE_ID)', pod));
      const rule = rules.find((candidate) => candidate.host === url.hostname);
      expect(rule, `ingress host for ${pod}`).toBeDefined();
      expect(rule.http.paths[0].path).toBe(url.pathname);
      const service = findManifest(manifests, 'Service', rule.http.paths[0].backend.service.name);
      expect(service.spec.selector['statefulset.kubernetes.io/pod-name']).toBe(pod);
      expect(matchesSelector(statefulSet.spec.template.metadata.labels, service.spec.selector)).toBe(false);
      expect(
        matchesSelector(
          { ...statefulSet.spec.template.metadata.labels, 'statefulset.kubernetes.io/pod-name': pod },
          service.spec.selector,
        ),
      ).toBe(true);
    }
    expect(ingress.spec.tls[0].hosts).toEqual(['*.chat.example.com']);
  });

  it('sets the unsafe sysctls when they are enabled', () => {
    const sysctls = workload(manifests, 'chat-node').spec.template.spec.securityContext.sysctls as Json[];
    expect(sysctls.map((sysctl) => sysctl.name)).toEqual([
      'net.ipv4.ip_local_port_range',
      'net.core.somaxconn',
      'net.ipv4.tcp_max_syn_backlog',
    ]);
  });

  it('scrapes every workload through a ServiceMonitor', () => {
    const monitors = ofKind(manifests, 'ServiceMonitor');
    expect(monitors).toHaveLength(5);
    for (const { component } of WORKLOADS) {
      const monitor = findManifest(manifests, 'ServiceMonitor', `${PREFIX}-${component}`);
      expect(monitor.apiVersion).toBe('monitoring.coreos.com/v1');
      expect(monitor.metadata.labels?.release).toBe('kube-prometheus-stack');
      const services = ofKind(manifests, 'Service').filter((service) =>
        matchesSelector(service.metadata.labels, monitor.spec.selector.matchLabels),
      );
      expect(
        services.map((service) => service.metadata.name),
        component,
      ).toHaveLength(1);
      const endpoint = monitor.spec.endpoints[0];
      expect(endpoint.path).toBe('/metrics');
      const portNames = (services[0]!.spec.ports as Json[]).map((port) => port.name);
      expect(portNames, component).toContain(endpoint.port);
      expect(endpoint.relabelings).toContainEqual({
        sourceLabels: ['__meta_kubernetes_pod_label_app_kubernetes_io_component'],
        targetLabel: 'component',
        action: 'replace',
      });
    }
  });

  it('renders the alerting rules as a PrometheusRule', () => {
    const rule = findManifest(manifests, 'PrometheusRule', PREFIX);
    const plain = parse(readFileSync(resolve(ROOT, 'deploy/monitoring/switchboard-alerts.yaml'), 'utf8'));
    expect(rule.spec).toEqual(plain);
  });

  it('renders the dashboard for the Grafana sidecar', () => {
    const configMap = findManifest(manifests, 'ConfigMap', `${PREFIX}-dashboard`);
    expect(configMap.metadata.labels?.grafana_dashboard).toBe('1');
    const dashboard = JSON.parse(configMap.data!['switchboard.json']!);
    expect(dashboard.uid).toBe('switchboard-overview');
  });

  it('configures every push provider from the existing Secret', () => {
    const deployment = workload(manifests, 'push-worker');
    const container = mainContainer(deployment);
    const variables = effectiveVariables(manifests, container);
    const missing = [...readServiceVariables('push-worker')].filter(
      (name) =>
        !variables.has(name) &&
        !OPTIONAL_VARIABLES.has(name) &&
        // The push worker does not use Redis, whose URL this example keeps in a Secret.
        name !== 'SWB_REDIS_URL' &&
        // Optional per provider: their absence keeps the worker's defaults.
        ![
          'SWB_PUSH_ALLOWED_HOSTS',
          'SWB_PUSH_FCM_API_ORIGIN',
          'SWB_PUSH_APNS_ORIGIN',
          'SWB_PUSH_APNS_CA_FILE',
        ].includes(name),
    );
    expect(missing, `add these to the chart's values and templates`).toEqual([]);
    expect(envEntry(container, 'SWB_PUSH_VAPID_PRIVATE_KEY').valueFrom.secretKeyRef).toEqual({
      name: 'switchboard-push',
      key: 'vapid-private-key',
    });
    expect(envEntry(container, 'SWB_PUSH_APNS_KEY_ID').value).toBe('ABC123DEFG');
    const volume = (deployment.spec.template.spec.volumes as Json[]).find(
      (entry) => entry.name === 'push-credentials',
    );
    expect(volume.secret.secretName).toBe('switchboard-push');
    expect(volume.secret.items.map((item: Json) => item.key)).toEqual([
      'fcm-service-account.json',
      'apns-key.p8',
    ]);
    const mount = (container.volumeMounts as Json[]).find((entry) => entry.name === 'push-credentials');
    expect(mount).toEqual({ name: 'push-credentials', mountPath: '/etc/switchboard/push', readOnly: true });
    for (const [variable, file] of [
      ['SWB_PUSH_FCM_SERVICE_ACCOUNT_FILE', 'fcm-service-account.json'],
      ['SWB_PUSH_APNS_KEY_FILE', 'apns-key.p8'],
    ]) {
      expect(envEntry(container, variable!).value).toBe(`/etc/switchboard/push/${file}`);
    }
  });

  it('tells the api which push platforms are on, without the private keys', () => {
    const container = mainContainer(workload(manifests, 'api'));
    expect(envEntry(container, 'SWB_PUSH_VAPID_PUBLIC_KEY').value).toBe(values.pushWorker.webPush.publicKey);
    expect(envEntry(container, 'SWB_PUSH_FCM_SERVICE_ACCOUNT_FILE').value).toBeTruthy();
    expect(envEntry(container, 'SWB_PUSH_APNS_KEY_FILE').value).toBeTruthy();
    expect(envEntry(container, 'SWB_PUSH_VAPID_PRIVATE_KEY')).toBeUndefined();
    expect(container.volumeMounts.map((mount: Json) => mount.name)).not.toContain('push-credentials');
  });

  it('keeps the chat nodes on their own node pool', () => {
    const pod = workload(manifests, 'chat-node').spec.template.spec;
    expect(pod.nodeSelector).toEqual({ 'switchboard.example.com/pool': 'chat' });
    expect(pod.topologySpreadConstraints[0].topologyKey).toBe('topology.kubernetes.io/zone');
  });
});

describe('chart value checks', () => {
  it.each([
    [['persister.autoscaling.maxReplicas=13'], 'exceeds kafka.partitions'],
    [['persister.autoscaling.enabled=false', 'persister.replicas=20'], 'exceeds kafka.partitions'],
    [['chatNode.terminationGracePeriodSeconds=2'], 'must exceed the drain window'],
    [['tokenSecret.value=short'], 'at least 32 characters'],
    [['chatNode.limits.maxBodyBytes=20000'], 'must be smaller than chatNode.limits.maxFrameBytes'],
    [['ingress.enabled=true', 'ingress.chat.domain='], 'ingress.chat.domain must be set'],
  ])('rejects %j', async (set, message) => {
    const result = await runHelm(helm, buildTemplateArgs({ set }));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(message);
  });

  it.each([
    [
      [
        'pushWorker.webPush.enabled=true',
        'pushWorker.webPush.subject=mailto:ops@example.com',
        'pushWorker.credentials.vapidPrivateKey=private-key-value',
      ],
      'pushWorker.webPush.publicKey must be set',
    ],
    [
      [
        'pushWorker.apns.enabled=true',
        'pushWorker.apns.keyId=ABC123DEFG',
        'pushWorker.apns.teamId=DEF123GHIJ',
        'pushWorker.apns.topic=com.example.chat',
      ],
      'pushWorker.credentials.apnsKey',
    ],
  ])('rejects push provider values %j', async (set, message) => {
    const result = await runHelm(helm, buildTemplateArgs({ set }));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(message);
  });

  it('creates the push credentials Secret from values', async () => {
    const manifests = await renderChart(helm, {
      set: [
        'pushWorker.webPush.enabled=true',
        'pushWorker.webPush.publicKey=BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM',
        'pushWorker.webPush.subject=mailto:ops@example.com',
        'pushWorker.credentials.vapidPrivateKey=private-key-value',
      ],
    });
    const secret = findManifest(manifests, 'Secret', `${PREFIX}-push-credentials`);
    expect(Buffer.from(secret.data!['vapid-private-key']!, 'base64').toString()).toBe('private-key-value');
    const container = mainContainer(workload(manifests, 'push-worker'));
    expect(envEntry(container, 'SWB_PUSH_VAPID_PRIVATE_KEY').valueFrom.secretKeyRef).toEqual({
      name: `${PREFIX}-push-credentials`,
      key: 'vapid-private-key',
    });
    const volumes = workload(manifests, 'push-worker').spec.template.spec.volumes as Json[];
    expect(volumes.map((volume) => volume.name)).toEqual(['tmp']);
  });

  it('leaves the push worker out when disabled', async () => {
    const manifests = await renderChart(helm, { set: ['pushWorker.enabled=false'] });
    expect(manifests.filter((item) => item.metadata.name === `${PREFIX}-push-worker`)).toEqual([]);
  });

  it('derives the grace period from a longer drain window', async () => {
    const manifests = await renderChart(helm, { set: ['chatNode.limits.drainWindowMs=45500'] });
    const statefulSet = workload(manifests, 'chat-node');
    expect(drainWindowSeconds(statefulSet)).toBe(45.5);
    expect(statefulSet.spec.template.spec.terminationGracePeriodSeconds).toBe(76);
  });

  it('serves /metrics on a separate port when asked', async () => {
    const manifests = await renderChart(helm, {
      set: ['router.metricsPort=9465', 'metrics.serviceMonitor.enabled=true'],
    });
    const container = mainContainer(workload(manifests, 'router'));
    expect(container.ports).toContainEqual({ name: 'metrics', containerPort: 9465, protocol: 'TCP' });
    expect(envEntry(container, 'SWB_METRICS_PORT').value).toBe('9465');
    const monitor = findManifest(manifests, 'ServiceMonitor', `${PREFIX}-router`);
    expect(monitor.spec.endpoints[0].port).toBe('metrics');
    const policy = findManifest(manifests, 'NetworkPolicy', `${PREFIX}-router`);
    expect(policy.spec.ingress.at(-1).ports).toEqual([{ port: 9465, protocol: 'TCP' }]);
  });

  it('renders engine addresses as templates', async () => {
    // --set would read the braces as a list, so the value goes through a file.
    const directory = mkdtempSync(join(tmpdir(), 'switchboard-chart-'));
    const file = join(directory, 'values.yaml');
    writeFileSync(file, 'kafka:\n  brokers: "{{ .Release.Name }}-kafka:9092"\n');
    const manifests = await renderChart(helm, { release: 'demo', valuesFiles: [file] }).finally(() =>
      rmSync(directory, { recursive: true, force: true }),
    );
    const config = findManifest(manifests, 'ConfigMap', 'demo-switchboard-config').data!;
    expect(config.SWB_KAFKA_BROKERS).toBe('demo-kafka:9092');
  });
});
