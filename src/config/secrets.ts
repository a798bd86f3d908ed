// Which config values are secrets, and taking them out of any text podflow prints (config
// errors, `validate` output, log lines): they are replaced by `[REDACTED]`, as the Collector
// prints its opaque strings.
//
// A secret is found by where it stands, whatever its source (written in the file or from
// `${env:...}`): a key named like a credential (`password`, `bearer_token`, `client_secret`,
// `api_key`, ...), an authentication header under a `headers` map (`Authorization`,
// `Proxy-Authorization`, `Cookie`, `X-API-Key`, anything with `token`, `secret` or `auth` in its
// name), and the user information of any URL (`scheme://user:password@host`). Each is searched
// for as written, JSON-escaped (log lines are JSON) and percent-encoded.
import { REDACTED, redactUrls } from './endpoints.ts';

/** Shorter values are not searched for: they would match all over unrelated text. */
export const MIN_SECRET_LENGTH = 3;

const SECRET_KEY = /(^|[_.-])(password|passwd|secret|token|api_?key|credentials?|private_key)($|[_.-])/i;
const AUTH_HEADER = /authorization|auth|token|secret|api[-_]?key|cookie|password|credential|signature/i;
const URL_USERINFO = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)@/;

/** The secrets in a config tree (what `toJS` made of the document, after `${env:...}`). */
export function collectSecrets(root: unknown): string[] {
  const found = new Set<string>();
  const add = (value: string) => {
    if (value.length > 0) found.add(value);
  };
  const stack: Array<{ key: string; value: unknown }> = [{ key: '', value: root }];
  while (stack.length > 0) {
    const { key, value } = stack.pop()!;
    if (typeof value === 'string') {
      if (SECRET_KEY.test(key)) add(value);
      const url = URL_USERINFO.exec(value);
      if (url) addUserinfo(url[1]!.toLowerCase(), url[2]!, add);
    } else if (Array.isArray(value)) {
      for (const item of value) stack.push({ key, value: item });
    } else if (value !== null && typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) {
        if (key === 'headers' && typeof v === 'string' && AUTH_HEADER.test(k)) {
          add(v);
          // `Bearer <token>`, `Basic <base64>`: the credential alone may be printed too.
          const credential = /^\S+\s+(\S.*)$/.exec(v)?.[1];
          if (credential) add(credential);
        }
        stack.push({ key: k, value: v });
      }
    }
  }
  return [...found];
}

function addUserinfo(scheme: string, userinfo: string, add: (s: string) => void): void {
  const colon = userinfo.indexOf(':');
  // Without a password, an HTTP user name is the credential (`https://<token>@host`); a
  // database user name is not (`postgres://podflow@db` names a role).
  if (colon < 0 && scheme !== 'http' && scheme !== 'https') return;
  add(userinfo);
  const password = colon >= 0 ? userinfo.slice(colon + 1) : userinfo;
  add(password);
  try {
    add(decodeURIComponent(password));
  } catch {
    // not valid percent-encoding: the raw form is all there is
  }
}

/**
 * A key path cut after a credential key: what follows it was made from the secret's text (YAML
 * read `password: a: b` as a mapping, so the path would show `password.a`).
 */
export function redactKeyPath(path: string): string {
  const segments = path.split('.');
  const secret = segments.findIndex((segment) => SECRET_KEY.test(segment.replace(/\[\d+\]$/, '')));
  return secret < 0 || secret === segments.length - 1 ? path : segments.slice(0, secret + 1).join('.');
}

/** Replaces known secrets, and the user information of any URL, with `[REDACTED]`. */
export class Redactor {
  readonly #forms = new Set<string>();
  #pattern: RegExp | undefined;

  constructor(secrets: Iterable<string> = []) {
    this.add(secrets);
  }

  /** Secrets to take out from now on (those added before stay). */
  add(secrets: Iterable<string>): void {
    let changed = false;
    for (const secret of secrets) {
      if (secret.length < MIN_SECRET_LENGTH) continue;
      for (const form of [secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)]) {
        if (!this.#forms.has(form)) {
          this.#forms.add(form);
          changed = true;
        }
      }
    }
    if (!changed) return;
    // Longest first, so a secret that contains another is replaced whole.
    const forms = [...this.#forms].sort((a, b) => b.length - a.length).map((f) => f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    this.#pattern = new RegExp(forms.join('|'), 'g');
  }

  redact(text: string): string {
    const withoutSecrets = this.#pattern ? text.replace(this.#pattern, REDACTED) : text;
    return redactUrls(withoutSecrets);
  }
}
