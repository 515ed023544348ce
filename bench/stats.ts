/**
 * Latency sampling and summary statistics.
 *
 * A fast store can make millions of calls per run; keeping every delta would cost tens of MB per worker
 * and a long sort, so each worker keeps a uniform reservoir sample and ships a few hundred quantile points.
 */

/** A worker's latency distribution, as evenly spaced quantile points of its sample (ascending, ns). */
export interface LatencySummary {
  /** Calls measured (not just sampled). */
  count: number;
  /** Sorted values at quantiles 0, 1/(n-1), ..., 1 of the sample. */
  quantiles: number[];
}

/** Keeps a uniform random sample of at most `capacity` latencies (Vitter's algorithm R). */
export class LatencyReservoir {
  private readonly sample: Float64Array;
  private seen = 0;

  constructor(capacity = 50_000) {
    this.sample = new Float64Array(capacity);
  }

  /** Records one call's latency in nanoseconds. */
  add(ns: number): void {
    const capacity = this.sample.length;
    if (this.seen < capacity) {
      this.sample[this.seen] = ns;
    } else {
      const slot = Math.floor(Math.random() * (this.seen + 1));
      if (slot < capacity) this.sample[slot] = ns;
    }
    this.seen++;
  }

  /** Summarises the sample as `points` evenly spaced quantiles. */
  summary(points = 1001): LatencySummary {
    const sorted = this.sample.slice(0, Math.min(this.seen, this.sample.length)).sort();
    if (sorted.length === 0) return { count: 0, quantiles: [] };
    const quantiles: number[] = [];
    for (let k = 0; k < points; k++) {
      quantiles.push(sorted[Math.round((k / (points - 1)) * (sorted.length - 1))]!);
    }
    return { count: this.seen, quantiles };
  }
}

/**
 * Percentile `p` (0..1) of several workers' distributions together, each weighted by how many calls it
 * measured, so a worker that made more calls counts for more.
 */
export function mergedPercentile(parts: LatencySummary[], p: number): number {
  const points: Array<[value: number, weight: number]> = [];
  for (const part of parts) {
    if (part.quantiles.length === 0) continue;
    const weight = part.count / part.quantiles.length;
    for (const value of part.quantiles) points.push([value, weight]);
  }
  if (points.length === 0) return Number.NaN;
  points.sort((a, b) => a[0] - b[0]);
  const total = points.reduce((sum, [, w]) => sum + w, 0);
  let cumulative = 0;
  for (const [value, weight] of points) {
    cumulative += weight;
    if (cumulative >= p * total) return value;
  }
  return points[points.length - 1]![0];
}

/** Median of the finite numbers in `values` (NaN when none). */
export function median(values: number[]): number {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (finite.length === 0) return Number.NaN;
  const mid = finite.length >> 1;
  return finite.length % 2 === 1 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2;
}
