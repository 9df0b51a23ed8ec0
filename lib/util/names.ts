/**
 * File names as bytes. Linux names and link texts are byte strings; spare holds them as text
 * the way 0.4.0 (Python) did: valid UTF-8 decodes as usual, and each byte that is not part of
 * valid UTF-8 becomes the lone surrogate U+DC80+byte ("surrogateescape"), which snapshot JSON
 * writes as `\udcXX`. For people, such a byte is shown as `\xNN` and a backslash as `\\` (the
 * "shown form"); patterns given on the command line are read in the same notation.
 */

const utf8 = new TextEncoder();
const lenient = new TextDecoder();

/** Matches a byte held as a lone surrogate (U+DC80..U+DCFF). */
const ESCAPED_BYTE = /[\uDC80-\uDCFF]/;
/** Matches what the shown form writes differently: a lone surrogate or a backslash. */
const SHOWN_DIFFERENTLY = /[\uD800-\uDFFF\\]/u;
/** A lone surrogate (in a hostile snapshot: other than U+DC80..U+DCFF). */
const LONE_SURROGATE = /[\uD800-\uDFFF]/gu;

/** True when `name` holds a byte that is not valid UTF-8 (as U+DC80+byte). */
export function hasEscapedBytes(name: string): boolean {
  return ESCAPED_BYTE.test(name);
}

/** The length of the well-formed UTF-8 sequence at `i` (1..4), or 0 when there is none. */
function sequenceAt(bytes: Uint8Array, i: number): number {
  const b0 = bytes[i];
  if (b0 < 0x80) return 1;
  let length: number;
  let low = 0x80;
  let high = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) length = 2;
  else if (b0 >= 0xe0 && b0 <= 0xef) {
    length = 3;
    if (b0 === 0xe0) low = 0xa0; // no overlong forms
    if (b0 === 0xed) high = 0x9f; // no UTF-16 surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    length = 4;
    if (b0 === 0xf0) low = 0x90;
    if (b0 === 0xf4) high = 0x8f; // nothing above U+10FFFF
  } else return 0;
  if (i + length > bytes.length) return 0;
  const b1 = bytes[i + 1];
  if (b1 < low || b1 > high) return 0;
  for (let k = 2; k < length; k++) {
    if ((bytes[i + k] & 0xc0) !== 0x80) return 0;
  }
  return length;
}

/**
 * Bytes (a name, a path, a link text) as text: valid UTF-8 decoded, every other byte as
 * U+DC80+byte, as Python's `bytes.decode("utf-8", "surrogateescape")`.
 */
export function decodeName(bytes: Uint8Array): string {
  const text = lenient.decode(bytes);
  // U+FFFD is a replacement, or a U+FFFD that the bytes hold (EF BF BD): decode byte by byte.
  if (!text.includes("\uFFFD")) return text;
  let out = "";
  let start = 0; // of the valid run not yet added
  let i = 0;
  while (i < bytes.length) {
    const length = sequenceAt(bytes, i);
    if (length > 0) {
      i += length;
      continue;
    }
    if (start < i) out += lenient.decode(bytes.subarray(start, i));
    out += String.fromCharCode(0xdc00 + bytes[i]);
    i++;
    start = i;
  }
  if (start < bytes.length) out += lenient.decode(bytes.subarray(start));
  return out;
}

/**
 * The bytes of a name held as text (the inverse of decodeName). Throws on a lone surrogate
 * that is not U+DC80..U+DCFF, which no name decodes to.
 */
export function encodeName(name: string): Uint8Array {
  if (!/[\uD800-\uDFFF]/.test(name)) return utf8.encode(name);
  const parts: number[] = [];
  for (let i = 0; i < name.length; i++) {
    const unit = name.charCodeAt(i);
    if (unit >= 0xdc80 && unit <= 0xdcff) {
      parts.push(unit - 0xdc00);
      continue;
    }
    let end = i + 1;
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = name.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) {
        throw new Error(`lone surrogate in ${showName(name)}`);
      }
      end = i + 2;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      throw new Error(`lone surrogate in ${showName(name)}`);
    }
    for (const b of utf8.encode(name.slice(i, end))) parts.push(b);
    i = end - 1;
  }
  return Uint8Array.from(parts);
}

/** `encodeName` with a terminating NUL, for a C function. */
export function cName(name: string): Uint8Array<ArrayBuffer> {
  const bytes = encodeName(name);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/**
 * Why `name` (text from a snapshot) is not the text of a byte string, if it is not: a lone
 * surrogate outside U+DC80..U+DCFF, one that stands for an ASCII byte, or escaped bytes that
 * form valid UTF-8 (which decodes to another text: two paths would name one file).
 */
export function escapeProblem(name: string): string | undefined {
  if (!/[\uD800-\uDFFF]/.test(name)) return undefined;
  for (let i = 0; i < name.length; i++) {
    const unit = name.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = name.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
      else return `it holds a lone surrogate U+${hex4(unit)}`;
    } else if (unit >= 0xdc00 && unit <= 0xdc7f) {
      return `it holds U+${hex4(unit)}, an escaped ASCII byte`;
    } else if (unit >= 0xdd00 && unit <= 0xdfff) {
      return `it holds a lone surrogate U+${hex4(unit)}`;
    }
  }
  if (decodeName(encodeName(name)) !== name) {
    return "it holds escaped bytes that are valid UTF-8";
  }
  return undefined;
}

function hex4(unit: number): string {
  return unit.toString(16).toUpperCase().padStart(4, "0");
}

/**
 * A name or path in the shown form: each byte that is not valid UTF-8 as `\xNN`, a
 * backslash as `\\`, everything else as it is. Two different names never look the same.
 * (Another lone surrogate, which no name holds, is shown as `\uXXXX`.)
 */
export function showName(name: string): string {
  if (!SHOWN_DIFFERENTLY.test(name)) return name;
  return name.replace(/\\/g, "\\\\").replace(LONE_SURROGATE, showSurrogate);
}

function showSurrogate(ch: string): string {
  const unit = ch.charCodeAt(0);
  return unit >= 0xdc80 && unit <= 0xdcff
    ? `\\x${(unit - 0xdc00).toString(16)}`
    : `\\u${unit.toString(16).toUpperCase()}`;
}

/**
 * Reads a name or pattern written in the shown form: `\xNN` is the byte NN, `\\` a
 * backslash; any other backslash stands for itself. The bytes are then decoded as names are,
 * so `\xc3\xa9` is `é` and `\xff` the byte FF.
 */
export function parseShownName(text: string): string {
  if (!text.includes("\\")) return text;
  const bytes: number[] = [];
  let plain = "";
  const flush = () => {
    for (const b of utf8.encode(plain)) bytes.push(b);
    plain = "";
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === "\\" && text[i + 1] === "\\") {
      plain += "\\";
      i++;
    } else if (ch === "\\" && /^x[0-9a-fA-F]{2}$/.test(text.slice(i + 1, i + 4))) {
      flush();
      bytes.push(parseInt(text.slice(i + 2, i + 4), 16));
      i += 3;
    } else {
      plain += ch;
    }
  }
  flush();
  return decodeName(Uint8Array.from(bytes));
}

/**
 * Text with each escaped byte as `\\xNN` and any other lone surrogate as `\\uXXXX` (for any
 * message: nothing reaches a terminal as U+FFFD).
 */
export function showEscapedBytes(text: string): string {
  return /[\uD800-\uDFFF]/.test(text) ? text.replace(LONE_SURROGATE, showSurrogate) : text;
}
