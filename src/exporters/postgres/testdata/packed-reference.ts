// The send path as it was before the one-pass packer (flow-batches.ts WideParts): the wide lines
// cut into head / middle / tail strings (endpoint-ids.ts `narrow` then), the middles translated by
// the caller, the tails split again and the parts joined (flow-batches.ts `packParts` then). Kept
// as the reference the packer's output is compared with, byte for byte.
import { COPY_COLUMNS } from '../rows.ts';
// The quoting of one element is shared with the new path (its fast path, a whole part at once, is
// what the comparison checks against it).
import { quotedElement, ROW_ARRAYS } from '../flow-batches.ts';

const NULL = '\\N';
const MIDDLE_FIRST = COPY_COLUMNS.indexOf('node');
const TAIL_FIRST = COPY_COLUMNS.indexOf('tx_bytes');

/** The COPY text of the parts of wide COPY `text`, each wide middle translated by `narrowMiddle`. */
export function referenceParts(text: string, narrowMiddle: (middle: string) => readonly string[]): { text: string; parts: number } {
  const heads: string[] = [];
  const middles: string[] = [];
  const tails: string[] = [];
  for (let pos = 0; pos < text.length; ) {
    let eol = text.indexOf('\n', pos);
    if (eol < 0) eol = text.length;
    let middleAt = -1;
    let tailAt = -1;
    let tab = pos - 1;
    for (let field = 1; field < COPY_COLUMNS.length; field++) {
      tab = text.indexOf('\t', tab + 1);
      if (tab < 0 || tab > eol) throw new Error(`COPY line ${heads.length + 1} of a request has ${field} fields, not ${COPY_COLUMNS.length}`);
      if (field === MIDDLE_FIRST) middleAt = tab + 1;
      else if (field === TAIL_FIRST) tailAt = tab + 1;
    }
    const extra = text.indexOf('\t', tab + 1);
    if (extra >= 0 && extra < eol) throw new Error(`COPY line ${heads.length + 1} of a request has more than ${COPY_COLUMNS.length} fields`);
    heads.push(text.slice(pos, middleAt - 1));
    middles.push(text.slice(middleAt, tailAt - 1));
    tails.push(text.endsWith('\t{}', eol) ? `${text.slice(tailAt, eol - 2)}${NULL}` : text.slice(tailAt, eol));
    pos = eol + 1;
  }
  return packParts({ heads, middles: middles.map(narrowMiddle), tails });
}

interface NarrowRows {
  heads: string[];
  middles: ReadonlyArray<readonly string[]>;
  tails: string[];
}

const SOURCES: ReadonlyArray<readonly [from: 0 | 1, at: number]> = ROW_ARRAYS.map(([name]) => {
  const middle = ['src_endpoint', 'dst_endpoint', 'node_code', 'transport_code', 'dst_service_code', 'cost_class_code', 'src_port', 'dst_port', 'inter_zone'].indexOf(name);
  if (middle >= 0) return [0, middle] as const;
  const tail = ['tx_bytes', 'rx_bytes', 'tx_packets', 'rx_packets', 'connections', 'cost_usd', 'attributes'].indexOf(name);
  if (tail < 0) throw new Error(`no narrow field for ${name}`);
  return [1, tail] as const;
});
const NODE_FIELD = 2;
const ATTRIBUTES = ROW_ARRAYS.findIndex(([name]) => name === 'attributes');
function packParts(rows: NarrowRows): { text: string; parts: number } {
  const groups = new Map<string, number[]>();
  for (let r = 0; r < rows.heads.length; r++) {
    const key = `${rows.heads[r]}\t${rows.middles[r]![NODE_FIELD]}`;
    const group = groups.get(key);
    if (group) group.push(r);
    else groups.set(key, [r]);
  }
  let text = '';
  for (const [key, members] of groups) {
    const values: string[][] = SOURCES.map(() => new Array<string>(members.length));
    const anyValue: boolean[] = SOURCES.map(() => false);
    for (let m = 0; m < members.length; m++) {
      const r = members[m]!;
      const middle = rows.middles[r]!;
      const tail = rows.tails[r]!.split('\t');
      for (let a = 0; a < SOURCES.length; a++) {
        const [from, at] = SOURCES[a]!;
        const v = (from === 0 ? middle : tail)[at]!;
        if (v === NULL) values[a]![m] = 'NULL';
        else {
          anyValue[a] = true;
          values[a]![m] = a === ATTRIBUTES ? quotedElement(v) : v;
        }
      }
    }
    text += `${key}\t${members.length}`;
    for (let a = 0; a < SOURCES.length; a++) text += anyValue[a] ? `\t{${values[a]!.join(',')}}` : `\t${NULL}`;
    text += '\n';
  }
  return { text, parts: groups.size };
}
