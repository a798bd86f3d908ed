// Durations (`5s`, `2m`, `1h30m`, `250ms`) and sizes (`64MiB`, `1GB`) are parsed here and nowhere else.
import { z } from 'zod';

const DURATION_UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)/gy;

/** Milliseconds in a Go-style duration string, or an Error saying why not. */
export function parseDurationMs(text: string): number | Error {
  const s = text.trim();
  if (s === '0') return 0;
  DURATION_PART.lastIndex = 0;
  let total = 0;
  let matched = 0;
  for (let m = DURATION_PART.exec(s); m; m = DURATION_PART.exec(s)) {
    total += Number(m[1]) * DURATION_UNIT_MS[m[2]!]!;
    matched = DURATION_PART.lastIndex;
  }
  if (matched === 0 || matched !== s.length) {
    return new Error(`"${text}" is not a duration (use e.g. 500ms, 5s, 2m, 1h30m, 7d)`);
  }
  return total;
}

const SIZE_UNIT_BYTES: Record<string, number> = {
  b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12,
  kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, tib: 1024 ** 4,
};

/** Bytes in a size string such as `64MiB`, `10MB` or `4096`. */
export function parseSizeBytes(text: string): number | Error {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = SIZE_UNIT_BYTES[(m?.[2] || 'b').toLowerCase()];
  if (!m || unit === undefined) return new Error(`"${text}" is not a size (use e.g. 4096, 512KiB, 64MiB, 1GB)`);
  return Math.round(Number(m[1]) * unit);
}

interface Bounds { min?: number; max?: number }

function bounded(kind: string, fmt: (n: number) => string, parse: (s: string) => number | Error, bounds: Bounds) {
  return z.union([z.string(), z.number()]).transform((input, ctx) => {
    const value = typeof input === 'number' ? input : parse(input);
    if (value instanceof Error) {
      ctx.addIssue({ code: 'custom', message: value.message });
      return z.NEVER;
    }
    if (bounds.min !== undefined && value < bounds.min) {
      ctx.addIssue({ code: 'custom', message: `${kind} must be at least ${fmt(bounds.min)}` });
      return z.NEVER;
    }
    if (bounds.max !== undefined && value > bounds.max) {
      ctx.addIssue({ code: 'custom', message: `${kind} must be at most ${fmt(bounds.max)}` });
      return z.NEVER;
    }
    return value;
  });
}

/** A duration key; the parsed value is in milliseconds (a bare number is taken as ms). */
export const durationMs = (bounds: Bounds = {}) => bounded('duration', (n) => `${n}ms`, parseDurationMs, bounds);

/** A size key; the parsed value is in bytes (a bare number is taken as bytes). */
export const sizeBytes = (bounds: Bounds = {}) => bounded('size', (n) => `${n} bytes`, parseSizeBytes, bounds);
