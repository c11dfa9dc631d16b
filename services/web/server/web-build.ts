import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Directory of the web client package (services/web). */
export const WEB_PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
/** Output directory of the build that `make start` serves. */
export const DEFAULT_WEB_DIST_DIR = join(WEB_PACKAGE_DIR, 'dist');

const REPO_DIR = join(WEB_PACKAGE_DIR, '..', '..');
/** Files and directories that go into the bundle; a change to any of them makes a build stale. */
const SOURCE_PATHS = [
  'services/web/index.html',
  'services/web/vite.config.ts',
  'services/web/package.json',
  'services/web/src',
  'services/web/public',
  'libs/client/src',
  'libs/protocol/src',
];

/** Time allowed for one `vite build`; it takes a few seconds on a 2-core machine. */
const BUILD_TIMEOUT_MS = 180_000;

export interface BuildLogger {
  info(fields: object, message: string): void;
}

/**
 * Returns why the build in `distDir` must be redone, or null when it is current.
 *
 * The check compares modification times: the build is stale when `index.html` is missing or
 * older than the newest file under SOURCE_PATHS (tests excluded). It reads only file
 * metadata, a few hundred stat calls.
 */
export function findStaleReason(distDir: string): string | null {
  const index = join(distDir, 'index.html');
  if (!existsSync(index)) return `${relative(REPO_DIR, index)} is missing`;
  const builtAt = statSync(index).mtimeMs;
  const newest = findNewestSource();
  if (newest !== null && newest.mtimeMs > builtAt) {
    return `${relative(REPO_DIR, newest.path)} changed after the last build`;
  }
  return null;
}

/**
 * Runs `vite build` into `outDir`. The build goes to a temporary directory first and then
 * replaces `outDir`, so a failed build leaves the previous one in place.
 */
export async function buildWebClient(outDir: string): Promise<void> {
  const temporary = `${outDir}.tmp-${process.pid}-${Date.now()}`;
  try {
    await runViteBuild(temporary);
    const previous = `${outDir}.old-${process.pid}-${Date.now()}`;
    if (existsSync(outDir)) await rename(outDir, previous);
    await rename(temporary, outDir);
    await rm(previous, { recursive: true, force: true });
  } finally {
    await rm(temporary, { recursive: true, force: true });
  }
}

/**
 * Builds the web client into `distDir` unless the build there is current, and returns
 * whether it built.
 */
export async function ensureWebClientBuilt(
  distDir: string = DEFAULT_WEB_DIST_DIR,
  logger?: BuildLogger,
): Promise<boolean> {
  const reason = findStaleReason(distDir);
  if (reason === null) return false;
  logger?.info({ distDir, reason }, 'building the web client');
  const startedAt = Date.now();
  await buildWebClient(distDir);
  logger?.info({ distDir, ms: Date.now() - startedAt }, 'web client built');
  return true;
}

function findNewestSource(): { path: string; mtimeMs: number } | null {
  let newest: { path: string; mtimeMs: number } | null = null;
  const visit = (path: string) => {
    if (!existsSync(path)) return;
    const stat = statSync(path);
    if (stat.isDirectory()) {
      for (const entry of readdirSync(path)) {
        if (entry === 'node_modules' || entry.endsWith('.test.ts')) continue;
        visit(join(path, entry));
      }
      return;
    }
    if (newest === null || stat.mtimeMs > newest.mtimeMs) newest = { path, mtimeMs: stat.mtimeMs };
  };
  for (const source of SOURCE_PATHS) visit(join(REPO_DIR, source));
  return newest;
}

/** Runs the vite CLI in a child process, so the bundler's memory and handles go away with it. */
function runViteBuild(outDir: string): Promise<void> {
  const require = createRequire(import.meta.url);
  const viteBin = join(dirname(require.resolve('vite/package.json')), 'bin', 'vite.js');
  const args = [
    viteBin,
    'build',
    '--config',
    join(WEB_PACKAGE_DIR, 'vite.config.ts'),
    '--outDir',
    outDir,
    '--emptyOutDir',
    '--logLevel',
    'warn',
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: WEB_PACKAGE_DIR, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-8000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), BUILD_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`vite build could not start: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) {
        resolve();
        return;
      }
      const outcome =
        signal === null ? `exit code ${code}` : `signal ${signal} (timeout ${BUILD_TIMEOUT_MS} ms)`;
      reject(new Error(`vite build of the web client failed with ${outcome}:\n${output.trim()}`));
    });
  });
}
