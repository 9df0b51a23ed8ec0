/**
 * Names that are not UTF-8 (issue 28), pure functions: the surrogateescape conversion as
 * Python's, the shown form and its parsing, and the checks a snapshot's names must pass.
 */
import { assert, assertEquals, assertThrows } from "./assert.ts";
import {
  createNewBytes,
  linkBytes,
  lstatPath,
  lutimesBytes,
  mkdirBytes,
  namesAreBytes,
  openReadBytes,
  readDirNames,
  readLinkPath,
  symlinkBytes,
} from "../lib/util/fs_bytes.ts";
import {
  decodeName,
  encodeName,
  escapeProblem,
  parseShownName,
  showName,
} from "../lib/util/names.ts";
import { checkEntries, displayPath, pathProblem } from "../lib/snapshot/check.ts";
import { globMatcher } from "../lib/util/glob.ts";

const bytes = (...b: number[]) => Uint8Array.from(b);
const latin1 = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));

Deno.test("decodeName: valid UTF-8 as text, every other byte as U+DC80+byte (as Python)", () => {
  assertEquals(decodeName(new TextEncoder().encode("ünï 📦")), "ünï 📦");
  assertEquals(decodeName(latin1("\xff\xfe-latin1-\xe9.txt")), "\udcff\udcfe-latin1-\udce9.txt");
  assertEquals(decodeName(latin1("dir-\xe4")), "dir-\udce4");
  // A real U+FFFD (EF BF BD) stays U+FFFD, beside an escaped FF.
  assertEquals(decodeName(bytes(0x61, 0xef, 0xbf, 0xbd, 0xff)), "a\uFFFD\udcff");
  // Python: b'\xe2\x82A'.decode('utf-8', 'surrogateescape') == '\udce2\udc82A'
  assertEquals(decodeName(bytes(0xe2, 0x82, 0x41)), "\udce2\udc82A");
  // Overlong "/" and an encoded surrogate are not UTF-8: each byte escaped.
  assertEquals(decodeName(bytes(0xc0, 0xaf)), "\udcc0\udcaf");
  assertEquals(decodeName(bytes(0xed, 0xb3, 0xbf)), "\udced\udcb3\udcbf");
  // Above U+10FFFF, and a truncated 4-byte sequence at the end.
  assertEquals(decodeName(bytes(0xf4, 0x90, 0x80, 0x80)), "\udcf4\udc90\udc80\udc80");
  assertEquals(decodeName(bytes(0x78, 0xf0, 0x9f, 0x93)), "x\udcf0\udc9f\udc93");
});

Deno.test("encodeName is the inverse of decodeName, byte for byte", () => {
  const samples = [
    latin1("\xff\xfe-latin1-\xe9.txt"),
    bytes(0x61, 0xef, 0xbf, 0xbd, 0xff),
    bytes(0xe2, 0x82, 0x41, 0xf0, 0x9f, 0x93, 0xa6, 0xc0),
    new TextEncoder().encode("plain 日本語"),
  ];
  for (let b = 0x80; b <= 0xff; b++) samples.push(bytes(0x41, b, 0x42));
  for (const sample of samples) assertEquals(encodeName(decodeName(sample)), sample);
  let threw = false;
  try {
    encodeName("a\udc41");
  } catch {
    threw = true;
  }
  assert(threw, "an escaped ASCII byte has no bytes");
});

Deno.test("showName: bytes as \\xNN, a backslash doubled; parseShownName reads it back", () => {
  const names = [
    "\udcff\udcfe-latin1-\udce9.txt",
    "a\uFFFD",
    "a\udcff",
    "back\\slash",
    "literal \\xff",
    "plain/ünï",
  ];
  const shown = names.map(showName);
  assertEquals(shown, [
    "\\xff\\xfe-latin1-\\xe9.txt",
    "a\uFFFD",
    "a\\xff",
    "back\\\\slash",
    "literal \\\\xff",
    "plain/ünï",
  ]);
  assertEquals(new Set(shown).size, names.length);
  for (const name of names) assertEquals(parseShownName(showName(name)), name);
  // Bytes that are valid UTF-8 give the character; a lone backslash stands for itself.
  assertEquals(parseShownName("\\xc3\\xa9"), "é");
  assertEquals(parseShownName("a\\b"), "a\\b");
  assertEquals(displayPath("dir-\udce4/x"), "dir-\\xe4/x");
  // Lone surrogates that no name holds (hostile snapshots) are shown too, never as U+FFFD.
  assertEquals(showName("a\ud800x\udc2e\uD83D\uDCE6"), "a\\uD800x\\uDC2E\uD83D\uDCE6");
});

Deno.test("globs match names with bytes written as \\xNN", () => {
  assert(globMatcher("dir-\\xe4/**")("dir-\udce4/file.txt"));
  assert(globMatcher("*\\xe9.txt")("\udcff\udcfe-latin1-\udce9.txt"));
  assert(!globMatcher("a\\xff")("a\uFFFD"));
  assert(globMatcher("a\uFFFD")("a\uFFFD"));
  assert(!globMatcher("a\uFFFD")("a\udcff"));
  assert(globMatcher("back\\\\slash")("back\\slash"));
});

Deno.test("snapshot checks: escapes may not smuggle `/`, `..`, NUL or malformed text", () => {
  assertEquals(pathProblem("dir-\udce4/\udcff.txt"), undefined);
  assertEquals(escapeProblem("ok \uD83D\uDCE6"), undefined);
  // An array, not an object: the linter reads lone surrogates as U+FFFD and sees duplicates.
  const bad: [string, string][] = [
    ["\udc2e\udc2e/x", "escaped ASCII byte"],
    ["a\udc2fb", "escaped ASCII byte"],
    ["a\udc00", "escaped ASCII byte"],
    ["a\ud800b", "lone surrogate U+D800"],
    ["a\udd00", "lone surrogate U+DD00"],
    ["\uDBFF", "lone surrogate U+DBFF"],
    ["\udcc3\udca9", "valid UTF-8"],
  ];
  for (const [path, reason] of bad) {
    const problem = pathProblem(path);
    assert(problem?.includes(reason), `${JSON.stringify(path)}: ${problem}`);
  }
  const entry = { user: "root", group: "root", mode: 0o100644, size: 0, inode: 1, mtime_ns: 0 };
  const structure: Record<string, unknown> = {
    "good-\udcff": { type: "file", ...entry },
    "\udcc3\udca9": { type: "file", ...entry },
    "link": { type: "symlink", ...entry, mode: 0o120777, target: "x\udc2f", link: "x\udc2f" },
    "link-ok": { type: "symlink", ...entry, mode: 0o120777, target: "\udcff", link: "\udcff" },
  };
  const checked = checkEntries({}, structure);
  assertEquals(Object.keys(checked.structure).sort(), ["good-\udcff", "link-ok"]);
  assertEquals(checked.refused.map((r) => r.path).sort(), ["link", "\udcc3\udca9"]);
});

Deno.test({
  name: "fs_bytes: names that are not UTF-8 through libc, errors as Deno's",
  ignore: !namesAreBytes,
  fn() {
    const dir = Deno.makeTempDirSync({ prefix: "spare-names-" });
    try {
      const file = `${dir}/f-\udcff`;
      const out = createNewBytes(file, 0o640);
      out.writeSync(new TextEncoder().encode("content\n"));
      out.close();
      assertThrows(() => createNewBytes(file, 0o600), Deno.errors.AlreadyExists);
      mkdirBytes(`${dir}/d-\udce4`, 0o755);
      symlinkBytes("f-\udcff", `${dir}/d-\udce4/l-\udce9`);
      linkBytes(file, `${dir}/hard`);
      assertEquals(readDirNames(dir).sort(), ["d-\udce4", "f-\udcff", "hard"]);
      assertEquals(readLinkPath(`${dir}/d-\udce4/l-\udce9`), "f-\udcff");
      const info = lstatPath(file);
      assert(info.isFile && info.size === 8 && (info.mode! & 0o777) === 0o640);
      assertEquals(info.ino, Deno.lstatSync(`${dir}/hard`).ino);
      assertEquals(info.nlink, 2);
      lutimesBytes(file, Date.UTC(2020, 0, 2, 3, 4, 5, 678) * 1e6);
      assertEquals(lstatPath(file).mtime?.getTime(), Date.UTC(2020, 0, 2, 3, 4, 5, 678));
      const { file: opened } = openReadBytes(file);
      const buffer = new Uint8Array(16);
      assertEquals(opened!.readSync(buffer), 8);
      assertEquals(opened!.readSync(buffer), null);
      opened!.close();
      assertEquals(openReadBytes(`${dir}/d-\udce4`).file, undefined, "a directory is not read");
      assertEquals(
        openReadBytes(`${dir}/d-\udce4/l-\udce9`).file,
        undefined,
        "a link is not followed",
      );
      assertThrows(() => lstatPath(`${dir}/gone-\udcff`), Deno.errors.NotFound);
      assertThrows(() => readDirNames(`${dir}/gone-\udcff`), Deno.errors.NotFound);
      assertThrows(() => mkdirBytes(`${file}/x-\udcff`, 0o700), Deno.errors.NotADirectory);
      // Deno itself sees the bytes replaced; readDirNames reads such a directory again.
      assert([...Deno.readDirSync(dir)].some((e) => e.name === "f-\uFFFD"));
      assertEquals(readDirNames(`${dir}/d-\udce4`), ["l-\udce9"]);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
