/** Summarises a V8 CPU profile (`node --cpu-prof` output) into its top frames by self time. */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/** The parts of a `.cpuprofile` file this summary reads. */
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileFrame {
  functionName: string;
  /** Script path relative to the repository or node_modules, with the 1-based line. */
  location: string;
  /** Share of the busy samples (all but `(idle)`) spent in this frame itself, in percent. */
  selfPercent: number;
}

export interface ProfileSummary {
  durationSeconds: number;
  /** Share of all samples in which the thread was idle, in percent. */
  idlePercent: number;
  /** Share of busy samples in V8's garbage collector, in percent. */
  gcPercent: number;
  topFrames: ProfileFrame[];
}

/**
 * Shortens a script URL to the part a reader can find in the repository. The line is left out
 * when V8 reports 0, as it does for TypeScript that tsx compiled, where it would mislead.
 */
export function shortenLocation(url: string, line: number): string {
  if (url === '') return '(native)';
  const path = url.replace(/^file:\/\//, '');
  const suffix = line > 0 ? `:${line + 1}` : '';
  const modules = path.lastIndexOf('node_modules/');
  if (modules >= 0) return `${path.slice(modules)}${suffix}`;
  const repo = path.search(/\/(services|libs|loadtests)\//);
  if (repo >= 0) return `${path.slice(repo + 1)}${suffix}`;
  return `${path}${suffix}`;
}

/** Counts samples per frame (function, script, line) and returns the `top` busiest frames. */
export function summariseProfile(profile: CpuProfile, top: number): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const counts = new Map<string, { frame: ProfileNode['callFrame']; samples: number }>();
  let idle = 0;
  let gc = 0;
  for (const id of profile.samples) {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined) continue;
    if (frame.functionName === '(idle)') {
      idle++;
      continue;
    }
    if (frame.functionName === '(garbage collector)') gc++;
    const key = `${frame.functionName}|${frame.url}|${frame.lineNumber}`;
    const entry = counts.get(key) ?? { frame, samples: 0 };
    entry.samples++;
    counts.set(key, entry);
  }
  const busy = Math.max(1, profile.samples.length - idle);
  const percent = (value: number) => Math.round((value / busy) * 1000) / 10;
  const topFrames = [...counts.values()]
    .sort((a, b) => b.samples - a.samples)
    .slice(0, top)
    .map(({ frame, samples }) => ({
      functionName: frame.functionName || '(anonymous)',
      location: shortenLocation(frame.url, frame.lineNumber),
      selfPercent: percent(samples),
    }));
  return {
    durationSeconds: Math.round((profile.endTime - profile.startTime) / 1e5) / 10,
    idlePercent: Math.round((idle / Math.max(1, profile.samples.length)) * 1000) / 10,
    gcPercent: percent(gc),
    topFrames,
  };
}
