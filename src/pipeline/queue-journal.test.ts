// The log behind sending_queue.storage: file: what survives a reopen, a record torn by a crash,
// a corrupted record, and how the file is kept small.
import test from 'ava';
import { appendFileSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QueueJournal } from './queue-journal.ts';

async function logPath(t: import('ava').ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'podflow-journal-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 'sub', 'exporter.queue');
}

const text = (stored: Array<{ key: number; payload: Buffer }>) => stored.map((s) => [s.key, s.payload.toString()]);

test('puts, a put that replaces, deletes: a reopen gives the live requests oldest first, and new keys after them', async (t) => {
  const path = await logPath(t);
  const first = await QueueJournal.open(path);
  t.deepEqual(first.stored, []);
  const j = first.journal;
  const [a, b, c] = [j.newKey(), j.newKey(), j.newKey()];
  j.put(a, Buffer.from('a'));
  j.put(b, Buffer.from('b'));
  j.put(c, Buffer.from('c'));
  await j.flush();
  j.put(a, Buffer.from('a grown'));
  j.delete(b);
  await j.flush();
  // Not closed: as after SIGKILL, only what flush made durable counts.
  const second = await QueueJournal.open(path);
  t.deepEqual(text(second.stored), [[a, 'a grown'], [c, 'c']]);
  t.is(second.tornBytes, 0);
  t.true(second.journal.newKey() > c);
  // Reopening rewrote the log with the live records only: 15-byte header each.
  t.is(statSync(path).size, 15 + 'a grown'.length + 15 + 1);
  t.is(statSync(path).mode & 0o777, 0o600);
  await second.journal.close();
});

test('a request that only grew is written as an append of what was added; one that changed, whole', async (t) => {
  const path = await logPath(t);
  const { journal } = await QueueJournal.open(path);
  const key = journal.newKey();
  journal.put(key, Buffer.from('rows 1-3;'));
  await journal.flush();
  const sizeAfterPut = statSync(path).size;
  t.is(sizeAfterPut, 15 + 9);
  journal.put(key, Buffer.from('rows 1-3;rows 4-6;'));
  await journal.flush();
  t.is(statSync(path).size, sizeAfterPut + 15 + 9, 'only the new rows were written');
  journal.put(key, Buffer.from('rows 1-3;rows 4-6;'));
  await journal.flush();
  t.is(statSync(path).size, sizeAfterPut + 15 + 9, 'unchanged: nothing written');
  journal.put(key, Buffer.from('rows 1-2'));
  await journal.flush();
  t.is(statSync(path).size, sizeAfterPut + 15 + 9 + 15 + 8, 'not a growth: written whole');
  journal.put(key, Buffer.from('rows 1-2, 3'));
  await journal.flush();
  const reopened = await QueueJournal.open(path);
  t.deepEqual(text(reopened.stored), [[key, 'rows 1-2, 3']]);
  await reopened.journal.close();
});

test('a record torn by a crash is cut off; the records before it are kept', async (t) => {
  const path = await logPath(t);
  const { journal } = await QueueJournal.open(path);
  journal.put(journal.newKey(), Buffer.from('whole'));
  journal.put(journal.newKey(), Buffer.from('torn in the middle'));
  await journal.close();
  const size = statSync(path).size;
  truncateSync(path, size - 5);
  const reopened = await QueueJournal.open(path);
  t.deepEqual(text(reopened.stored), [[1, 'whole']]);
  t.is(reopened.tornBytes, 15 + 'torn in the middle'.length - 5);
  await reopened.journal.close();
  // Half a header at the end is torn too.
  appendFileSync(path, Buffer.from([1, 2, 3]));
  const again = await QueueJournal.open(path);
  t.deepEqual(text(again.stored), [[1, 'whole']]);
  t.is(again.tornBytes, 3);
  await again.journal.close();
});

test('a record whose CRC does not match ends the log there', async (t) => {
  const path = await logPath(t);
  const { journal } = await QueueJournal.open(path);
  for (const word of ['one', 'two', 'three']) journal.put(journal.newKey(), Buffer.from(word));
  await journal.close();
  const bytes = readFileSync(path);
  const at = 15 + 3 + 15; // first payload byte of "two"
  bytes.writeUInt8(bytes.readUInt8(at) ^ 0xff, at);
  writeFileSync(path, bytes);
  const reopened = await QueueJournal.open(path);
  t.deepEqual(text(reopened.stored), [[1, 'one']]);
  t.is(reopened.tornBytes, 15 + 3 + 15 + 5);
  await reopened.journal.close();
});

test('once nothing is live the log starts over at 0 bytes', async (t) => {
  const path = await logPath(t);
  const { journal } = await QueueJournal.open(path);
  const keys = [journal.newKey(), journal.newKey()];
  for (const key of keys) journal.put(key, Buffer.alloc(1000, 1));
  await journal.flush();
  t.is(statSync(path).size, 2 * 1015);
  journal.delete(keys[0]!);
  await journal.flush();
  t.is(statSync(path).size, 2 * 1015 + 15, 'a delete is appended');
  journal.delete(keys[1]!);
  await journal.flush();
  t.is(statSync(path).size, 0);
  await journal.close();
  t.deepEqual((await QueueJournal.open(path)).stored, []);
});

test('a log much larger than what is live is rewritten with the live records', async (t) => {
  const path = await logPath(t);
  const { journal } = await QueueJournal.open(path);
  const kept = journal.newKey();
  journal.put(kept, Buffer.from('kept'));
  // 10 MiB of requests that come and go, in 1 MiB puts.
  for (let i = 0; i < 10; i++) {
    const key = journal.newKey();
    journal.put(key, Buffer.alloc(1024 * 1024, i));
    await journal.flush();
    journal.delete(key);
  }
  journal.put(journal.newKey(), Buffer.from('new'));
  await journal.flush();
  // Past 8 MiB, four times what was live, the log was rewritten: 11 MiB written, at most 3 MiB kept.
  t.true(statSync(path).size < 3 * 1024 * 1024, `${statSync(path).size} bytes`);
  await journal.close();
  const reopened = await QueueJournal.open(path);
  t.deepEqual(text(reopened.stored), [[kept, 'kept'], [12, 'new']]);
  await reopened.journal.close();
});

test('a symlink at the log path is not followed', async (t) => {
  const path = await logPath(t);
  const { journal } = await QueueJournal.open(path);
  await journal.close();
  const { symlinkSync, rmSync } = await import('node:fs');
  rmSync(path);
  symlinkSync('/etc/hostname', path);
  await t.throwsAsync(QueueJournal.open(path), { message: /sending_queue: cannot read .*exporter\.queue: ELOOP/ });
});
