/**
 * Parsing a snapshot's JSON text as it arrives, piece by piece: the whole text is never held
 * (for 300,000 paths, about 60 MB as one string, and as much again while its pieces were
 * joined). The result is the value JSON.parse gives for the whole text: each value inside
 * the top-level object's object-valued fields (one structure entry, one list of paths) is
 * handed to JSON.parse on its own, and everything between them is checked here, so that a
 * text JSON.parse refuses is refused too.
 */

/**
 * Characters of values parsed by one JSON.parse: the objects of one parse stay young (their
 * memory is reused at once) where those of 1 MiB of text (5,000 entries) outlived the
 * smallest young generation and were collected as old objects.
 */
const BULK_CHARS = 64 * 1024;

/** Where the parser is between two values. */
const enum At {
  Start,
  TopKey,
  TopColon,
  TopValue,
  TopAfter,
  InnerKey,
  InnerColon,
  InnerValue,
  InnerAfter,
  Done,
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/** JSON's whitespace: space, tab, line feed, carriage return. */
function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Sets `object[key]` as JSON.parse would: a key named __proto__ stays an own property. */
function define(object: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(object, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else object[key] = value;
}

/**
 * Takes one value inside an object-valued top-level field (`field` is the top-level key,
 * `key` the value's own); true when it took the value, which then is not kept in the result.
 */
export type JsonInnerSink = (field: string, key: string, value: unknown) => boolean;

/**
 * A JSON text parsed from pieces: push each piece, then end() gives JSON.parse's value. With
 * a sink, the values inside object-valued top-level fields go to it as they are parsed; those
 * it takes are left out of the result (their field's object keeps the others).
 */
export class JsonPieceParser {
  constructor(private readonly sink?: JsonInnerSink) {}

  private buf = "";
  private pos = 0;
  private at = At.Start;
  private first = true;
  private readonly root: Record<string, unknown> = {};
  private topKey = "";
  private innerKey = "";
  private inner: Record<string, unknown> = {};
  /** The text so far, when the top-level value is not an object (JSON.parse takes it whole). */
  private whole?: string[];
  // The value being scanned: where it starts, how far it is scanned, and the scan's state.
  private valueStart = -1;
  private scanned = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** The scanned string has no escape and no control character: its text is its value. */
  private plain = true;
  /** The bulk path failed for the text before this position: go value by value there. */
  private slowUntil = -1;

  /** Takes the next piece of the text; throws a SyntaxError where the text is not JSON. */
  push(text: string): void {
    if (this.whole) {
      this.whole.push(text);
      return;
    }
    const keep = this.valueStart >= 0 ? this.valueStart : this.pos;
    this.buf = keep < this.buf.length ? this.buf.slice(keep) + text : text;
    this.pos -= keep;
    this.scanned -= keep;
    this.slowUntil -= keep;
    if (this.valueStart >= 0) this.valueStart = 0;
    this.run(false);
  }

  /** The parsed value, once the whole text is pushed. */
  end(): unknown {
    if (this.whole) return JSON.parse(this.whole.join(""));
    this.run(true);
    if (this.at !== At.Done) throw new SyntaxError("Unexpected end of JSON input");
    return this.root;
  }

  private fail(what: string): never {
    throw new SyntaxError(`${what} in JSON`);
  }

  /** The next character that is not whitespace (its code), or -1 at the end of the buffer. */
  private next(): number {
    const buf = this.buf;
    while (this.pos < buf.length) {
      const c = buf.charCodeAt(this.pos);
      if (!isSpace(c)) return c;
      this.pos++;
    }
    return -1;
  }

  private unexpected(c: number): never {
    this.fail(`Unexpected token '${String.fromCharCode(c)}'`);
  }

  private run(final: boolean): void {
    for (;;) {
      if (this.at === At.TopValue || this.at === At.InnerValue || this.valueStart >= 0) {
        if (this.valueStart < 0 && this.next() < 0) return;
        if (
          this.at === At.TopValue && this.valueStart < 0 &&
          this.buf.charCodeAt(this.pos) === OPEN_BRACE
        ) {
          this.pos++;
          this.inner = {};
          define(this.root, this.topKey, this.inner);
          this.at = At.InnerKey;
          this.first = true;
          continue;
        }
        const raw = this.scanValue(final);
        if (raw === undefined) return;
        this.took(raw);
        continue;
      }
      const c = this.next();
      if (c < 0) return;
      switch (this.at) {
        case At.Start:
          if (c !== OPEN_BRACE) {
            this.whole = [this.buf.slice(this.pos)];
            this.buf = "";
            return;
          }
          this.pos++;
          this.at = At.TopKey;
          this.first = true;
          break;
        case At.TopKey:
        case At.InnerKey:
          if (this.at === At.InnerKey && c === QUOTE && this.pos >= this.slowUntil && this.bulk()) {
            break;
          }
          if (c === CLOSE_BRACE && this.first) {
            this.pos++;
            this.at = this.at === At.TopKey ? At.Done : At.TopAfter;
          } else if (c === QUOTE) {
            const raw = this.scanValue(final);
            if (raw === undefined) return;
            this.took(raw);
          } else this.unexpected(c);
          break;
        case At.TopColon:
        case At.InnerColon:
          if (c !== COLON) this.unexpected(c);
          this.pos++;
          this.at = this.at === At.TopColon ? At.TopValue : At.InnerValue;
          break;
        case At.TopAfter:
        case At.InnerAfter: {
          const top = this.at === At.TopAfter;
          this.pos++;
          if (c === COMMA) {
            this.at = top ? At.TopKey : At.InnerKey;
            this.first = false;
          } else if (c === CLOSE_BRACE) this.at = top ? At.Done : At.TopAfter;
          else this.unexpected(c);
          break;
        }
        case At.Done:
          this.unexpected(c);
      }
    }
  }

  /**
   * The bulk path, at the first key of an inner object's values still to come: the values
   * whose text is all in the buffer are parsed by one JSON.parse, as one object, and handed
   * out in their order. Where they end is guessed first: the last comma between a `}` or `]`
   * and a `"` (a guess that is wrong, inside a string or a nested value, leaves a text that
   * JSON.parse refuses); when the guess is refused, found by skipping the strings with
   * indexOf (no look at each character inside them). A part JSON.parse refuses then goes
   * value by value (the errors are that path's). False when nothing was taken. For a
   * million paths: 3 s against 7 with the skipping alone, and 60 value by value.
   */
  private bulk(): boolean {
    const guess = this.guessEnd();
    if (guess > this.pos && this.takeValues(guess, false)) return true;
    const { cut, closing } = this.scanEnd();
    if (cut <= this.pos) return false;
    if (this.takeValues(cut, closing)) return true;
    this.slowUntil = cut;
    return false;
  }

  /**
   * The last comma between a `}` or `]` and a `"` (whitespace allowed) within BULK_CHARS of
   * `pos`, or -1.
   */
  private guessEnd(): number {
    const buf = this.buf;
    for (
      let comma = buf.lastIndexOf(",", Math.min(this.pos + BULK_CHARS, buf.length - 1));
      comma > this.pos;
      comma = buf.lastIndexOf(",", comma - 1)
    ) {
      let before = comma - 1;
      while (isSpace(buf.charCodeAt(before))) before--;
      const b = buf.charCodeAt(before);
      if (b !== CLOSE_BRACE && b !== CLOSE_BRACKET) continue;
      let after = comma + 1;
      while (after < buf.length && isSpace(buf.charCodeAt(after))) after++;
      if (after < buf.length && buf.charCodeAt(after) === QUOTE) return comma;
    }
    return -1;
  }

  /**
   * Where the values whose text is all in the buffer end: the last comma between them, or
   * the `}` that closes the inner object (`closing`), found by skipping strings with indexOf.
   */
  private scanEnd(): { cut: number; closing: boolean } {
    const buf = this.buf;
    let i = this.pos;
    let depth = 0;
    let cut = -1;
    while (i < buf.length) {
      const quote = buf.indexOf('"', i);
      const stop = quote < 0 ? buf.length : quote;
      for (; i < stop; i++) {
        const c = buf.charCodeAt(i);
        if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
        else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
          if (depth === 0) return { cut: i, closing: true };
          depth--;
        } else if (c === COMMA && depth === 0) cut = i;
      }
      if (quote < 0) break;
      // Past the string: its end is the next quote that is not escaped.
      for (let j = quote + 1;;) {
        const end = buf.indexOf('"', j);
        if (end < 0) return { cut, closing: false };
        let backslashes = 0;
        while (buf.charCodeAt(end - 1 - backslashes) === BACKSLASH) backslashes++;
        if (backslashes % 2 === 0) {
          i = end + 1;
          break;
        }
        j = end + 1;
      }
    }
    return { cut, closing: false };
  }

  /**
   * Parses the values from `pos` to `cut` (a comma, or the inner object's `}` when
   * `closing`) as one object and hands them out; false when JSON.parse refuses the text.
   */
  private takeValues(cut: number, closing: boolean): boolean {
    let values: Record<string, unknown>;
    try {
      values = JSON.parse(`{${this.buf.slice(this.pos, cut)}}`);
    } catch {
      return false;
    }
    const inner = this.inner;
    for (const key of Object.keys(values)) {
      const value = values[key];
      if (!this.sink?.(this.topKey, key, value)) define(inner, key, value);
    }
    this.pos = closing ? cut : cut + 1;
    this.first = false;
    if (closing) this.at = At.InnerAfter;
    return true;
  }

  /** Stores a scanned key or value where the parser is. */
  private took(raw: string): void {
    // A key without escapes is its text (it is copied when it becomes a property's name).
    const key = this.at === At.TopKey || this.at === At.InnerKey;
    const value = key && this.plain ? raw.slice(1, -1) : JSON.parse(raw);
    switch (this.at) {
      case At.TopKey:
        this.topKey = value;
        this.at = At.TopColon;
        break;
      case At.InnerKey:
        this.innerKey = value;
        this.at = At.InnerColon;
        break;
      case At.TopValue:
        define(this.root, this.topKey, value);
        this.at = At.TopAfter;
        break;
      case At.InnerValue:
        if (!this.sink?.(this.topKey, this.innerKey, value)) {
          define(this.inner, this.innerKey, value);
        }
        this.at = At.InnerAfter;
        break;
    }
  }

  /**
   * The text of the value (or key) at `pos`, once it is all in the buffer (undefined until
   * then; the scan goes on where it stopped when more text comes).
   */
  private scanValue(final: boolean): string | undefined {
    const buf = this.buf;
    if (this.valueStart < 0) {
      this.valueStart = this.pos;
      this.scanned = this.pos;
      this.depth = 0;
      this.inString = false;
      this.escaped = false;
      this.plain = true;
    }
    const start = this.valueStart;
    const opening = buf.charCodeAt(start);
    let end = -1;
    let i = this.scanned;
    if (opening !== QUOTE && opening !== OPEN_BRACE && opening !== OPEN_BRACKET) {
      // A number, true, false or null: it ends before the next delimiter.
      for (; i < buf.length; i++) {
        const c = buf.charCodeAt(i);
        if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || isSpace(c)) break;
      }
      if (i < buf.length || final) end = i;
    } else {
      let { depth, inString, escaped, plain } = this;
      for (; i < buf.length; i++) {
        const c = buf.charCodeAt(i);
        if (inString) {
          if (escaped) escaped = false;
          else if (c === BACKSLASH) {
            escaped = true;
            plain = false;
          } else if (c === QUOTE) {
            inString = false;
            if (depth === 0) {
              end = i + 1;
              break;
            }
          } else if (c < 0x20) plain = false;
        } else if (c === QUOTE) inString = true;
        else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
        else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
          if (--depth === 0) {
            end = i + 1;
            break;
          }
        }
      }
      this.depth = depth;
      this.inString = inString;
      this.escaped = escaped;
      this.plain = plain;
    }
    if (end < 0) {
      this.scanned = i;
      if (final) this.fail("Unexpected end");
      return undefined;
    }
    this.valueStart = -1;
    this.pos = end;
    return buf.slice(start, end);
  }
}
