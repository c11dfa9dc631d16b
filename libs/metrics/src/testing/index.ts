export { parseExposition, sumSamples, type MetricFamily, type Sample } from './exposition.ts';
