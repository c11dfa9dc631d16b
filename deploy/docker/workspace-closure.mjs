// Prints the workspace directories that one workspace needs at run time, one per line: the
// workspace itself and, transitively, every workspace among its production dependencies.
//
//   node deploy/docker/workspace-closure.mjs services/chat-node
//
// The Dockerfile copies these directories into a service's image, so an image contains the
// libraries its service imports and no others. Run from the repository root. Plain
// JavaScript, so it runs before tsx is installed.

/* global console, process -- Node's globals; the lint config has none for .mjs files */

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

function readManifest(directory) {
  return JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8'));
}

/** Maps each workspace package name to its directory, from the root's "workspaces" globs. */
function listWorkspaces() {
  const byName = new Map();
  for (const pattern of readManifest('.').workspaces ?? []) {
    let directories = [pattern];
    if (pattern.endsWith('/*')) {
      const parent = pattern.slice(0, -2);
      directories = readdirSync(parent, { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => `${parent}/${entry.name}`);
    } else if (pattern.includes('*')) {
      throw new Error(`workspace pattern "${pattern}" is not supported; use "dir/*" or a directory`);
    }
    for (const directory of directories) {
      if (existsSync(join(directory, 'package.json'))) byName.set(readManifest(directory).name, directory);
    }
  }
  return byName;
}

const start = process.argv[2];
if (!start || !existsSync(join(start, 'package.json'))) {
  console.error(
    `usage: workspace-closure.mjs <workspace directory>; got "${start ?? ''}", which has no package.json`,
  );
  process.exit(2);
}

const workspaces = listWorkspaces();
const needed = new Set([start]);
const queue = [start];
while (queue.length > 0) {
  const directory = queue.shift();
  for (const name of Object.keys(readManifest(directory).dependencies ?? {})) {
    const dependency = workspaces.get(name);
    if (dependency !== undefined && !needed.has(dependency)) {
      needed.add(dependency);
      queue.push(dependency);
    }
  }
}
console.log([...needed].sort().join('\n'));
