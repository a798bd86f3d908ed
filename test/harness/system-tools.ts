// System tools for tests, found by file, never through PATH: under `make` and ava, node_modules/.bin
// comes first on PATH and holds npm packages' programs, some named like system tools (@vercel/nft
// ships an `nft`). The Debian packages the tests use, and the file each tool is, are listed once in
// setup/debian-packages.tsv, which `make system-deps` installs from.
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

export const DEBIAN_PACKAGES_FILE = fileURLToPath(new URL('../../setup/debian-packages.tsv', import.meta.url));

export interface DebianTool {
  /** The Debian package, e.g. `nftables`. */
  readonly debianPackage: string;
  /** The file the project runs, as dpkg lists it, e.g. `/usr/sbin/nft`. */
  readonly file: string;
  /** What needs it (the third column). */
  readonly neededBy: string;
}

/** The rows of setup/debian-packages.tsv (tab-separated; `#` lines are comments). */
export function debianTools(): DebianTool[] {
  const rows: DebianTool[] = [];
  for (const [index, line] of readFileSync(DEBIAN_PACKAGES_FILE, 'utf8').split('\n').entries()) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const [debianPackage, file, neededBy = ''] = line.split('\t');
    if (!debianPackage || !file?.startsWith('/')) throw new Error(`${DEBIAN_PACKAGES_FILE}:${index + 1}: expected "package<TAB>/absolute/file<TAB>needed by"`);
    rows.push({ debianPackage, file, neededBy });
  }
  return rows;
}

const byName = new Map(debianTools().map((tool) => [basename(tool.file), tool]));

/** Where tools that come with every Debian system (util-linux, coreutils) are looked for. */
const SYSTEM_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/**
 * Absolute path of a system tool: the listed file of a tool of setup/debian-packages.tsv, else
 * the first of the system folders that has it (setpriv, mount, cat). `name` itself when none
 * has it, so that running it fails with ENOENT naming it.
 */
export function systemTool(name: string): string {
  if (name.includes('/')) return name;
  const listed = byName.get(name);
  if (listed) return listed.file;
  return SYSTEM_DIRS.map((dir) => `${dir}/${name}`).find((file) => existsSync(file)) ?? name;
}

/** Why `name` (a tool name or an absolute path) cannot be run here, or undefined when it can. */
export function missingTool(name: string): string | undefined {
  const file = systemTool(name);
  if (existsSync(file)) return undefined;
  const listed = byName.get(basename(file));
  return listed
    ? `needs ${name} (Debian package ${listed.debianPackage}: run \`make system-deps\` as root)`
    : `needs ${name} (not found in ${SYSTEM_DIRS.join(', ')})`;
}
