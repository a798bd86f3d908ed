// A linter for deploy/Dockerfile, on the parse tree of `dockerfile-ast` (the parser of the
// Dockerfile language server). Rules: bases pinned (exact version or digest, ARG defaults
// resolved), a non-root USER in the final stage, a HEALTHCHECK on /healthz, exec-form
// ENTRYPOINT, no secrets (ENV/ARG names, copied key files, credentials in URLs), no ADD of URLs,
// apt lists cleaned.
import { DockerfileParser, type Dockerfile, type Instruction } from 'dockerfile-ast';

/** `24.11.1`, `1.91.1-slim-bookworm`, `24.11.1-bookworm-slim`: a full x.y.z version, any suffix. */
const EXACT_TAG = /^v?\d+\.\d+\.\d+([-+._][A-Za-z0-9._-]+)?$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const SECRET_NAME = /(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL|AUTH)/i;
const SECRET_FILE = /(^|\/)(\.env(\..*)?|\.npmrc|\.netrc|id_rsa|id_ed25519|.*\.pem|.*\.key|.*\.p12|credentials(\.json)?|\.docker\/config\.json)$/i;
const SECRET_TEXT = /(-----BEGIN [A-Z ]*PRIVATE KEY-----|[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@|\b(?:ghp|gho|glpat|xox[abp])[-_][A-Za-z0-9]{10,}|AKIA[0-9A-Z]{16})/;

export interface Stage {
  name: string | undefined;
  image: string;
  instructions: Instruction[];
}

/** Substitutes `${VAR}` / `$VAR` with the global ARG defaults (ARGs before the first FROM, each
 * default expanded with the ARGs above it, as `docker build` does). */
function expand(text: string, args: ReadonlyMap<string, string>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (m, a: string | undefined, b: string | undefined) => args.get((a ?? b)!) ?? m);
}

export function stagesOf(dockerfile: Dockerfile): Stage[] {
  const globals = new Map<string, string>();
  for (const arg of dockerfile.getInitialARGs()) {
    const p = arg.getProperty();
    if (p) globals.set(p.getName(), expand(p.getValue() ?? '', globals));
  }
  const stages: Stage[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    const keyword = instruction.getKeyword();
    if (keyword === 'FROM') {
      const args = instruction.getArguments().map((a) => a.getValue());
      const asIndex = args.findIndex((a) => a.toUpperCase() === 'AS');
      const image = expand(args.find((a) => !a.startsWith('--')) ?? '', globals);
      stages.push({ name: asIndex >= 0 ? args[asIndex + 1] : undefined, image, instructions: [] });
    } else if (stages.length > 0) {
      stages[stages.length - 1]!.instructions.push(instruction);
    }
  }
  return stages;
}

function argsText(i: Instruction): string {
  return i.getArgumentsContent() ?? '';
}

/** Every problem, as `line N: message`; empty when the Dockerfile passes. */
export function lintDockerfile(text: string): string[] {
  const dockerfile = DockerfileParser.parse(text);
  const problems: string[] = [];
  const at = (i: Instruction, message: string) => problems.push(`line ${i.getRange().start.line + 1}: ${message}`);
  const stages = stagesOf(dockerfile);
  if (stages.length === 0) return ['no FROM instruction'];
  if (stages.length < 2) problems.push('not multi-stage: build tools would end up in the image');

  const froms = dockerfile.getFROMs();
  stages.forEach((stage, n) => {
    const from = froms[n]!;
    const earlier = stages.slice(0, n).map((s) => s.name).filter(Boolean);
    if (earlier.includes(stage.image)) return; // FROM an earlier stage
    if (stage.image.includes('$')) return at(from, `base image "${stage.image}" has an unresolved variable`);
    const [nameAndTag, digest] = stage.image.split('@') as [string, string | undefined];
    const colon = nameAndTag.lastIndexOf(':');
    const tag = colon > nameAndTag.lastIndexOf('/') ? nameAndTag.slice(colon + 1) : undefined;
    if (digest !== undefined) {
      if (!DIGEST.test(digest)) at(from, `base image "${stage.image}": malformed digest`);
    } else if (tag === undefined || tag === 'latest' || !EXACT_TAG.test(tag)) {
      at(from, `base image "${stage.image}" is not pinned: use an exact version (name:1.2.3) or a digest (@sha256:...)`);
    }
  });

  for (const instruction of dockerfile.getInstructions()) {
    const keyword = instruction.getKeyword();
    const content = argsText(instruction);
    if (keyword === 'ENV' || keyword === 'ARG') {
      const names = keyword === 'ARG'
        ? instruction.getArguments().map((a) => a.getValue().split('=')[0]!)
        : [...content.matchAll(/(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)=/g)].map((m) => m[1]!);
      for (const name of names) if (SECRET_NAME.test(name)) at(instruction, `${keyword} ${name}: secrets must not be baked into the image (use a runtime Secret)`);
    }
    if (keyword === 'COPY' || keyword === 'ADD') {
      const sources = instruction.getArguments().map((a) => a.getValue()).filter((a) => !a.startsWith('--')).slice(0, -1);
      for (const source of sources) {
        if (SECRET_FILE.test(source)) at(instruction, `${keyword} ${source}: a credentials file must not be copied into the image`);
        if (keyword === 'ADD' && /^[a-z]+:\/\//.test(source)) at(instruction, `ADD ${source}: downloads at build time are not pinned`);
      }
    }
    if (SECRET_TEXT.test(content)) at(instruction, `${keyword}: contains what looks like a credential`);
    if (keyword === 'RUN' && /apt-get install/.test(content)) {
      if (!/--no-install-recommends/.test(content)) at(instruction, 'apt-get install without --no-install-recommends');
      if (!/rm -rf \/var\/lib\/apt\/lists/.test(content)) at(instruction, 'apt lists not removed in the same RUN');
    }
  }

  const final = stages[stages.length - 1]!;
  const users = final.instructions.filter((i) => i.getKeyword() === 'USER');
  const user = users.length > 0 ? argsText(users[users.length - 1]!).trim() : undefined;
  if (user === undefined) problems.push('final stage: no USER (the image would run as root)');
  else if (/^(root|0)(:.*)?$/.test(user)) problems.push(`final stage: USER ${user} is root`);

  const healthchecks = final.instructions.filter((i) => i.getKeyword() === 'HEALTHCHECK');
  if (healthchecks.length === 0) problems.push('final stage: no HEALTHCHECK');
  else if (!/\/healthz/.test(argsText(healthchecks[healthchecks.length - 1]!))) problems.push('final stage: the HEALTHCHECK does not read /healthz');

  const entrypoints = final.instructions.filter((i) => i.getKeyword() === 'ENTRYPOINT');
  const entrypoint = entrypoints[entrypoints.length - 1];
  if (!entrypoint) problems.push('final stage: no ENTRYPOINT');
  else if (!argsText(entrypoint).trim().startsWith('[')) at(entrypoint, 'ENTRYPOINT in shell form: signals would go to /bin/sh, not podflow');
  return problems;
}
