// URLs as podflow prints them (start summary, logs): a password in the userinfo or in a query
// parameter (libpq's `?password=`) never reaches a log line.

const SCHEME_AND_USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i;
const SECRET_PARAMETERS = /([?&](?:password|passwd|sslpassword|sslkey|token|access_token|api_key|apikey|secret)=)[^&#]*/gi;

/** `postgres://u:p@db/x?password=p` → `postgres://[REDACTED]@db/x?password=[REDACTED]`; other text unchanged. */
export function urlWithoutCredentials(text: string): string {
  return text.replace(SCHEME_AND_USERINFO, '$1[REDACTED]@').replace(SECRET_PARAMETERS, '$1[REDACTED]');
}
