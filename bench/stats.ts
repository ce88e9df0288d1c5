// Small helpers shared by the benchmarks: percentiles and fixed-width figures.

/** Nearest-rank percentile (p in 0..100) of `values`; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export const median = (values: readonly number[]): number => percentile(values, 50);

/** Milliseconds with one decimal, e.g. `12.3ms`. */
export const ms = (n: number): string => `${n.toFixed(1)}ms`;
