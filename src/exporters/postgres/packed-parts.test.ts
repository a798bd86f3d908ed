// flow-batches.ts groupWideRows + packParts (the one-pass packer) against the send path it replaced
// (testdata/packed-reference.ts): the same COPY text of parts, byte for byte, for wide lines made
// by CopyEncoder from varied flows: full rows, NULLs, no attributes, odd attribute strings (quotes,
// backslashes, tabs, newlines, unicode), costs, several times and nodes per request.
import test from 'ava';
import type { Flow } from '../../model/index.ts';
import { CopyEncoder } from './copy-encoder.ts';
import { groupWideRows, packParts } from './flow-batches.ts';
import { COPY_COLUMNS } from './rows.ts';
import { flowAt, fullFlow } from './testdata/flows.ts';
import { referenceParts } from './testdata/packed-reference.ts';

function wideText(flows: readonly Flow[], node?: string): string {
  const enc = new CopyEncoder();
  for (const f of flows) enc.encode(f, node);
  return enc.take().bytes.toString('utf8');
}

/**
 * A translation as endpoint-ids.ts makes it (ends → ids, coded columns → codes or `\N`, ports and
 * inter_zone kept), each id a hash of what it names (the same whatever order middles come in).
 */
function translator(): (middle: string) => readonly string[] {
  const id = (key: string) => {
    let h = 2166136261;
    for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619) >>> 0;
    return String(h % 100_000);
  };
  const at = (c: string) => COPY_COLUMNS.indexOf(c) - COPY_COLUMNS.indexOf('node');
  const src = ['src_namespace', 'src_workload_kind', 'src_workload', 'src_pod', 'src_node', 'src_zone', 'src_address', 'src_address_type'].map(at);
  const dst = ['dst_namespace', 'dst_workload_kind', 'dst_workload', 'dst_pod', 'dst_node', 'dst_zone', 'dst_address', 'dst_domain', 'dst_address_type'].map(at);
  return (middle) => {
    const f = middle.split('\t');
    const code = (c: string) => (f[at(c)] === '\\N' ? '\\N' : id(`${c}\t${f[at(c)]}`));
    return [id(`e\t${src.map((i) => f[i]).join('\t')}`), id(`e\t${dst.map((i) => f[i]).join('\t')}`),
      code('node'), code('transport'), code('dst_service'), code('cost_class'), f[at('src_port')]!, f[at('dst_port')]!, f[at('inter_zone')]!];
  };
}

function assertSame(t: import('ava').ExecutionContext, text: string, minParts: number) {
  const want = referenceParts(text, translator());
  const wide = groupWideRows(text);
  const narrowMiddle = translator();
  const got = packParts(wide, wide.parts.map((part) => part.middles.map(narrowMiddle)));
  t.is(got.text, want.text);
  t.is(got.parts, want.parts);
  t.true(got.parts >= minParts);
}

const ODD = ['', 'q"uote', 'back\\slash', 'a\tb', 'a\nb', 'a\rb', '"\\"', 'é', 'Ω≈ç', '日本', '😀', '\u0001x\u001f', 'mix \t\\ 😀 é \n "', '{}', 'NULL'];

test('packed parts: full flows over several intervals and nodes, the old send path byte for byte', (t) => {
  const flows = Array.from({ length: 4000 }, (_, i) => fullFlow(i, Date.UTC(2030, 0, 1) + 10_000 * (i % 3)));
  const text = wideText(flows.slice(0, 2000), 'node-a') + wideText(flows.slice(2000, 3000), 'node-b') + wideText(flows.slice(3000));
  assertSame(t, text, 3);
});

test('packed parts: NULLs, no attributes, odd attribute strings and keys, costs, the old send path byte for byte', (t) => {
  const flows: Flow[] = [];
  for (const [i, s] of ODD.entries()) {
    flows.push(flowAt(1_000, { [`k${s}`]: s, other: i }, { txBytes: i }));
    flows.push(flowAt(1_000, {}, { rxBytes: i }));
    flows.push(flowAt(2_000, { 'k8s.node.name': s === '' ? 'n' : s, odd: s }, { connections: i }));
    flows.push({ ...flowAt(2_000, { 'network.flow.cost.class': 'inter_zone', 'network.transport': 'udp' }), costZeptoUsd: BigInt(i) * 10n ** 18n + 7n });
    flows.push({ ...fullFlow(i, 3_000), attributes: { ...fullFlow(i, 3_000).attributes, note: s } });
  }
  const text = wideText(flows);
  t.true(text.includes('\t\\N\t'));
  assertSame(t, text, 5);
  // A part whose every attribute is `{}`, and one whose every cost is NULL: arrays stored as NULL.
  assertSame(t, wideText([flowAt(5_000, {}), flowAt(5_000, {}, { txBytes: 3 })]), 1);
  assertSame(t, '', 0);
});

test('packed parts: a line with too few or too many fields is refused, naming it', (t) => {
  const line = wideText([fullFlow(1, 1_000)]);
  t.throws(() => groupWideRows(`${line}${line.replace('\t', '')}`), { message: /COPY line 2 of a request has 32 fields, not 33/ });
  t.throws(() => groupWideRows(`${line.replace(/\n$/, '\tx\n')}`), { message: /COPY line 1 of a request has more than 33 fields/ });
  t.throws(() => groupWideRows(line.slice(0, line.lastIndexOf('\t'))), { message: /COPY line 1 of a request has 32 fields/ });
});
