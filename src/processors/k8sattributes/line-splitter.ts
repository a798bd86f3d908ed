// A watch stream's framing: JSON objects, each ended by '\n' (the API server's json.Encoder).
// Lines are cut from the byte chunks as they arrive; a line is held only until its newline and
// never grows past `maxLineBytes` (a server that sends no newline cannot run the process out of
// memory), and bytes left after the last newline when the stream ends are a torn line, not an event.

/** A line longer than the cap; the stream must be dropped (its position is lost). */
export class LineTooLongError extends Error {}

/** The stream ended in the middle of a line. */
export class TornLineError extends Error {}

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;

export class LineSplitter {
  readonly maxLineBytes: number;
  /** The bytes of the current line so far, in arrival order (concatenated once, at its newline). */
  #parts: Uint8Array[] = [];
  #pendingBytes = 0;

  constructor(maxLineBytes: number) {
    this.maxLineBytes = maxLineBytes;
  }

  /** The complete lines in `chunk` (without '\n' or '\r\n'; empty lines skipped). Throws LineTooLongError. */
  push(chunk: Uint8Array): Buffer[] {
    const lines: Buffer[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      this.#append(chunk.subarray(start, nl));
      let line = Buffer.concat(this.#parts, this.#pendingBytes);
      if (line.length > 0 && line[line.length - 1] === CARRIAGE_RETURN) line = line.subarray(0, line.length - 1);
      if (line.length > 0) lines.push(line);
      this.#parts = [];
      this.#pendingBytes = 0;
      start = nl + 1;
    }
    this.#append(chunk.subarray(start));
    return lines;
  }

  /** The stream ended: throws TornLineError when a line was started and not finished. */
  end(): void {
    if (this.#pendingBytes > 0) {
      const bytes = this.#pendingBytes;
      this.#parts = [];
      this.#pendingBytes = 0;
      throw new TornLineError(`the stream ended inside a line (${bytes} bytes after the last newline)`);
    }
  }

  #append(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (this.#pendingBytes + bytes.length > this.maxLineBytes) {
      const seen = this.#pendingBytes + bytes.length;
      this.#parts = [];
      this.#pendingBytes = 0;
      throw new LineTooLongError(`a line exceeds max_watch_line_size (${this.maxLineBytes} bytes; ${seen} bytes without a newline so far)`);
    }
    this.#parts.push(bytes);
    this.#pendingBytes += bytes.length;
  }
}
