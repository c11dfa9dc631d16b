import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

const run = promisify(execFile);

export const ROOT = resolve(import.meta.dirname, '../..');
export const CHART = resolve(ROOT, 'deploy/helm/switchboard');
export const PRODUCTION_VALUES = resolve(ROOT, 'deploy/helm/examples/production.yaml');
const INSTALL_HELM = resolve(ROOT, 'deploy/tools/install-helm.sh');

/** Upper bound of a first helm build: about 9 minutes were measured on 2 busy cores. */
export const HELM_BUILD_TIMEOUT_MS = 25 * 60_000;

/** A rendered Kubernetes object, typed loosely: tests read what they check. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  spec?: any;
  data?: Record<string, string>;
}

/**
 * Builds helm with deploy/tools/install-helm.sh, or finds the binary of an earlier build, and
 * returns its path. Throws with the script's output when Go cannot build it.
 */
export async function installHelm(): Promise<string> {
  try {
    const { stdout } = await run(INSTALL_HELM, [], { timeout: HELM_BUILD_TIMEOUT_MS, maxBuffer: 16 << 20 });
    const path = stdout.trim().split('\n').at(-1) ?? '';
    if (!path.endsWith('/helm'))
      throw new Error(`install-helm.sh printed "${stdout.trim()}" instead of a path`);
    return path;
  } catch (err) {
    const output = err as { stderr?: string; message?: string };
    throw new Error(
      'helm could not be built by deploy/tools/install-helm.sh, which needs Go and the Go module proxy. ' +
        `Its output:\n${output.stderr ?? output.message ?? String(err)}`,
      { cause: err },
    );
  }
}

/**
 * Builds deploy/tools/validate-manifests with Go into `directory` and returns the binary's
 * path. A first build compiles the Kubernetes API types, which takes minutes; later builds
 * reuse Go's build cache.
 */
export async function buildValidator(directory: string): Promise<string> {
  const binary = resolve(directory, 'validate-manifests');
  try {
    await run('go', ['build', '-o', binary, '.'], {
      cwd: resolve(ROOT, 'deploy/tools/validate-manifests'),
      timeout: HELM_BUILD_TIMEOUT_MS,
      maxBuffer: 16 << 20,
    });
  } catch (err) {
    const output = err as { stderr?: string; message?: string };
    throw new Error(
      'deploy/tools/validate-manifests could not be built, which needs Go and the Go module proxy. ' +
        `go build printed:\n${output.stderr ?? output.message ?? String(err)}`,
      { cause: err },
    );
  }
  return binary;
}

/**
 * Runs the validator on rendered manifests and returns its exit code and the problems it
 * printed, one per line.
 */
export async function validateManifests(validator: string, rendered: string): Promise<HelmResult> {
  return new Promise((resolveResult, reject) => {
    const child = execFile(validator, [], { timeout: 60_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err && typeof (err as { code?: unknown }).code !== 'number') {
        reject(err);
        return;
      }
      resolveResult({ code: err ? Number((err as { code: number }).code) : 0, stdout, stderr });
    });
    child.stdin!.end(rendered);
  });
}

/** Result of one helm command that ran to its end. */
export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs helm with `args`; a non-zero exit code is returned, not thrown. */
export async function runHelm(helm: string, args: string[]): Promise<HelmResult> {
  try {
    const { stdout, stderr } = await run(helm, args, { cwd: ROOT, timeout: 60_000, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw err;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** Options of one `helm template` run. */
export interface RenderOptions {
  valuesFiles?: string[];
  /** `--set` assignments, such as `chatNode.replicas=5`. */
  set?: string[];
  namespace?: string;
  release?: string;
}

/** Runs `helm template` on the chart and parses every rendered document. */
export async function renderChart(helm: string, options: RenderOptions = {}): Promise<Manifest[]> {
  const args = buildTemplateArgs(options);
  const result = await runHelm(helm, args);
  if (result.code !== 0) throw new Error(`helm ${args.join(' ')} failed:\n${result.stderr}`);
  return parseManifests(result.stdout);
}

/** Builds the arguments of `helm template` for `options`. */
export function buildTemplateArgs(options: RenderOptions): string[] {
  const args = ['template', options.release ?? 'swb', CHART, '--namespace', options.namespace ?? 'chat'];
  for (const file of options.valuesFiles ?? []) args.push('--values', file);
  for (const assignment of options.set ?? []) args.push('--set', assignment);
  return args;
}

/** Parses a multi-document YAML stream into objects, dropping empty documents. */
export function parseManifests(text: string): Manifest[] {
  const manifests: Manifest[] = [];
  for (const document of parseAllDocuments(text)) {
    if (document.errors.length > 0)
      throw new Error(`rendered YAML is invalid: ${document.errors[0]!.message}`);
    const value = document.toJS() as Manifest | null;
    if (value !== null) manifests.push(value);
  }
  return manifests;
}

/** Returns the one object of `kind` named `name`, failing with the names that exist. */
export function findManifest(manifests: Manifest[], kind: string, name: string): Manifest {
  const found = manifests.find((item) => item.kind === kind && item.metadata.name === name);
  if (found === undefined) {
    const names = manifests.filter((item) => item.kind === kind).map((item) => item.metadata.name);
    throw new Error(`no ${kind} named ${name}; rendered ${kind} objects: ${names.join(', ') || 'none'}`);
  }
  return found;
}

/** Returns every object of `kind`. */
export function ofKind(manifests: Manifest[], kind: string): Manifest[] {
  return manifests.filter((item) => item.kind === kind);
}
