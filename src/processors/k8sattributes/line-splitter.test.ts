// LineSplitter: watch lines cut from arbitrary chunks, the cap, and a torn end.
import test from 'ava';
import { LineSplitter, LineTooLongError, TornLineError } from './line-splitter.ts';

const text = (lines: Buffer[]) => lines.map((l) => l.toString('utf8'));

test('lines split across chunks, several in one chunk, CRLF and empty lines', (t) => {
  const s = new LineSplitter(1024);
  t.deepEqual(text(s.push(Buffer.from('{"a":'))), []);
  t.deepEqual(text(s.push(Buffer.from('1}\n{"b":2}\r\n\n{"c"'))), ['{"a":1}', '{"b":2}']);
  t.deepEqual(text(s.push(Buffer.from(':3}\n'))), ['{"c":3}']);
  t.notThrows(() => s.end());
});

test('a multi-byte character split between chunks is whole in its line', (t) => {
  const bytes = Buffer.from('{"name":"ü€"}\n');
  const s = new LineSplitter(1024);
  const lines = [...s.push(bytes.subarray(0, 11)), ...s.push(bytes.subarray(11))];
  t.deepEqual(text(lines), ['{"name":"ü€"}']);
});

test('a line of exactly the cap passes; one byte more throws as soon as it arrives, before its newline', (t) => {
  const s = new LineSplitter(8);
  t.deepEqual(text(s.push(Buffer.from('12345678\n'))), ['12345678']);
  s.push(Buffer.from('1234'));
  const err = t.throws(() => s.push(Buffer.from('56789')), { instanceOf: LineTooLongError });
  t.is(err.message, 'a line exceeds max_watch_line_size (8 bytes; 9 bytes without a newline so far)');
});

test('bytes after the last newline at the end are a torn line', (t) => {
  const s = new LineSplitter(1024);
  t.deepEqual(text(s.push(Buffer.from('{"a":1}\n{"type":"MODI'))), ['{"a":1}']);
  const err = t.throws(() => s.end(), { instanceOf: TornLineError });
  t.is(err.message, 'the stream ended inside a line (13 bytes after the last newline)');
});
