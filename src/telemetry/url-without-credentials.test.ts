import test from 'ava';
import { urlWithoutCredentials } from './url-without-credentials.ts';

test('userinfo and secret query parameters become [REDACTED]; everything else is kept as written', (t) => {
  const cases: Array<[string, string]> = [
    ['postgres://podflow:s3cret@db:5432/flows', 'postgres://[REDACTED]@db:5432/flows'],
    ['postgres://podflow:p@ss:w%rd@db/flows', 'postgres://[REDACTED]@db/flows'],
    ['postgres://podflow@/flows?host=/var/run/postgresql', 'postgres://[REDACTED]@/flows?host=/var/run/postgresql'],
    ['postgres://db/flows?user=u&password=s3cret&sslmode=require', 'postgres://db/flows?user=u&password=[REDACTED]&sslmode=require'],
    ['https://user:token@mimir.example.com/api/v1/push?api_key=k#frag', 'https://[REDACTED]@mimir.example.com/api/v1/push?api_key=[REDACTED]#frag'],
    ['http://otel-collector:4318/v1/metrics', 'http://otel-collector:4318/v1/metrics'],
    ['http://collector/v1/metrics?email=a@b.c', 'http://collector/v1/metrics?email=a@b.c'],
    ['/var/log/podflow/flows.jsonl', '/var/log/podflow/flows.jsonl'],
    ['0.0.0.0:9464', '0.0.0.0:9464'],
  ];
  for (const [input, expected] of cases) t.is(urlWithoutCredentials(input), expected, input);
});
