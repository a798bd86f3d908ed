// Credentials in an exporter's URL (`http://user:pass@host/…`, as the Collector accepts them).
// fetch refuses a URL that carries user information, so it is sent as HTTP Basic instead. The
// user and password are decoded by the config's one URL parser (src/config/endpoints.ts).
import { parsedEndpoint } from '../../config/endpoints.ts';

export interface RequestTarget {
  /** The URL without user information: what requests go to. */
  url: string;
  /** `headers` with `authorization: Basic …` added from the URL, unless one is already set. */
  headers: Record<string, string>;
}

export function requestTarget(endpoint: string, headers: Record<string, string>): RequestTarget {
  const url = new URL(endpoint);
  if (url.username === '' && url.password === '') return { url: endpoint, headers };
  const { username, password } = parsedEndpoint(endpoint, ['http', 'https']);
  const credentials = `${username}:${password ?? ''}`;
  url.username = '';
  url.password = '';
  const hasAuthorization = Object.keys(headers).some((k) => k.toLowerCase() === 'authorization');
  return {
    url: url.toString(),
    headers: hasAuthorization ? headers : { authorization: `Basic ${Buffer.from(credentials).toString('base64')}`, ...headers },
  };
}
