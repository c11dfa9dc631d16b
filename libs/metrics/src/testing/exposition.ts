/** One sample line of the Prometheus text format. */
export interface Sample {
  /** Sample name, such as `x_bucket` for a histogram family `x`. */
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of one metric, with its `# HELP` and `# TYPE` lines. */
export interface MetricFamily {
  name: string;
  type: string;
  help: string;
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{(.*)\\})?\\s+(\\S+)(?:\\s+-?\\d+)?$`);
const LABEL = new RegExp(`\\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\\]|\\\\.)*)"\\s*(,|$)`, 'y');
const SUFFIXES: Record<string, string[]> = {
  histogram: ['_bucket', '_sum', '_count'],
  summary: ['_sum', '_count'],
};

/**
 * Parses the Prometheus text exposition format (version 0.0.4) into metric families by name.
 *
 * Throws on a line that does not fit the format, so a test that parses a scrape also checks
 * that the scrape is well formed.
 */
export function parseExposition(text: string): Map<string, MetricFamily> {
  const families = new Map<string, MetricFamily>();
  const familyOf = (name: string): MetricFamily => {
    let family = families.get(name);
    if (family === undefined) {
      family = { name, type: 'untyped', help: '', samples: [] };
      families.set(name, family);
    }
    return family;
  };

  for (const [index, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const comment = /^#\s*(HELP|TYPE)\s+(\S+)\s?(.*)$/.exec(line);
    if (comment !== null) {
      const family = familyOf(comment[2]!);
      if (comment[1] === 'HELP') family.help = comment[3]!;
      else family.type = comment[3]!.trim();
      continue;
    }
    if (line.startsWith('#')) continue;

    const match = SAMPLE_LINE.exec(line);
    if (match === null) throw new Error(`line ${index + 1} is not a sample: ${line}`);
    const sample: Sample = {
      name: match[1]!,
      labels: parseLabels(match[2] ?? '', index + 1),
      value: parseValue(match[3]!, index + 1),
    };
    familyOf(familyName(families, sample.name)).samples.push(sample);
  }
  return families;
}

/** Sums the samples named `name` whose labels include `labels`. */
export function sumSamples(
  families: Map<string, MetricFamily>,
  name: string,
  labels: Record<string, string> = {},
): number {
  let total = 0;
  for (const family of families.values()) {
    for (const sample of family.samples) {
      if (sample.name !== name) continue;
      if (Object.entries(labels).every(([key, value]) => sample.labels[key] === value)) total += sample.value;
    }
  }
  return total;
}

function familyName(families: Map<string, MetricFamily>, sampleName: string): string {
  for (const [type, suffixes] of Object.entries(SUFFIXES)) {
    for (const suffix of suffixes) {
      if (!sampleName.endsWith(suffix)) continue;
      const base = sampleName.slice(0, -suffix.length);
      if (families.get(base)?.type === type) return base;
    }
  }
  return sampleName;
}

function parseLabels(text: string, line: number): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const start = LABEL.lastIndex;
    const match = LABEL.exec(text);
    if (match === null) throw new Error(`line ${line}: malformed labels at "${text.slice(start)}"`);
    labels[match[1]!] = match[2]!.replace(/\\(.)/g, (_, char: string) => (char === 'n' ? '\n' : char));
  }
  return labels;
}

function parseValue(text: string, line: number): number {
  // Prometheus parses values with Go's strconv.ParseFloat, which takes Inf and NaN in any
  // case; prom-client 15 writes NaN as `Nan`.
  if (/^\+?inf$/i.test(text)) return Infinity;
  if (/^-inf$/i.test(text)) return -Infinity;
  if (/^nan$/i.test(text)) return NaN;
  const value = Number(text);
  if (Number.isNaN(value)) throw new Error(`line ${line}: "${text}" is not a number`);
  return value;
}
