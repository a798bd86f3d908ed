// Kernel, netns and server tests need root and some Debian tools. Unprivileged they skip with a
// loud reason; under CI=true they fail instead, so CI can never pass by skipping them.
import type { ExecutionContext } from 'ava';
import { missingTool } from './system-tools.ts';

export const IN_CI = process.env.CI === 'true';

/**
 * Why this machine cannot run a test that needs `tools` (names or absolute paths, found by file:
 * see system-tools.ts) as root, or undefined when it can.
 */
export function missingPrivileges(tools: readonly string[] = []): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, conntrack, bpffs)';
  for (const tool of tools) {
    const missing = missingTool(tool);
    if (missing) return missing;
  }
  return undefined;
}

/**
 * Returns true when the test may run. Otherwise: under CI fails the test, else logs the reason
 * loudly and passes (ava has no runtime skip) — callers `return` right away.
 */
export function requirePrivileges(t: ExecutionContext, tools: readonly string[] = []): boolean {
  const reason = missingPrivileges(tools);
  return reason === undefined || skipOrFail(t, reason);
}

/** A test that cannot run here: fails under CI, else logs `reason` loudly and passes. Returns false. */
export function skipOrFail(t: ExecutionContext, reason: string): false {
  if (IN_CI) {
    t.fail(`${reason}; CI=true forbids skipping`);
  } else {
    console.warn(`SKIPPED ${t.title}: ${reason}`);
    t.log(`SKIPPED: ${reason}`);
    t.pass();
  }
  return false;
}
