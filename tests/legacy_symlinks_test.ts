/**
 * The rule for which symlinks 0.4.0 sees in `structure` (pure functions), and a round trip of
 * every kind of link through our create and restore (against the test server).
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "./assert.ts";
import { cliEnv, hasServer, spareExpect } from "./cli.ts";
import { buildTree, describeTree, LINK_TREES, makeOutside } from "./fixture_trees.ts";
import { openBucket, rawSnapshot, TempDirs } from "./tree.ts";
import { SpareError } from "../lib/util/errors.ts";
import { compareCodePoints, splitSymlinks } from "../lib/snapshot/legacy_symlinks.ts";
import { legacyTarget } from "../lib/snapshot/legacy_symlinks.ts";
import { decodeSnapshot, encodeSnapshot, type Entry } from "../lib/snapshot/snapshot.ts";

const ROOT = "/srv/tree";
const base = { user: "root", group: "root", size: 0, mtime_ns: 0, inode: 1 };
const dir = (): Entry => ({ type: "directory", mode: 0o40755, ...base });
const file = (): Entry => ({ type: "file", mode: 0o100644, empty: true, ...base });
/** A symlink at `path` with link text `link`, with the target our scan gives it. */
const link = (path: string, text: string): Entry => ({
  type: "symlink",
  mode: 0o120777,
  ...base,
  target: legacyTarget(ROOT, `${ROOT}/${path}`, text),
  link: text,
});

Deno.test("0.4.0 sees only absolute links to an entry it has already created", () => {
  const structure: Record<string, Entry> = {
    "a": dir(),
    "a/file": file(),
    "b-abs": link("b-abs", `${ROOT}/a/file`),
    "b-dir": link("b-dir", `${ROOT}/a`),
    "b-chain": link("b-chain", `${ROOT}/b-abs`),
    "a/before": link("a/before", `${ROOT}/a/file`),
    "b-relative": link("b-relative", "a/file"),
    "b-outside": link("b-outside", "/etc/passwd"),
    "b-outside-rel": link("b-outside-rel", "../../etc/passwd"),
    "b-dangling": link("b-dangling", `${ROOT}/nothing`),
    "b-dotdot": link("b-dotdot", `${ROOT}/x/../a/file`),
    "b-slashes": link("b-slashes", `${ROOT}//a/file`),
    "b-self": link("b-self", `${ROOT}/b-self`),
    "b-root": link("b-root", ROOT),
    "c-to-skipped-link": link("c-to-skipped-link", `${ROOT}/b-relative`),
    "c-to-kept-link": link("c-to-kept-link", `${ROOT}/b-chain`),
    "z": file(),
  };
  const { structure: shown, symlinks } = splitSymlinks(structure);
  assertEquals(
    Object.keys(shown).filter((p) => shown[p].type === "symlink").sort(),
    ["b-abs", "b-chain", "b-dir", "c-to-kept-link"],
  );
  assertEquals(Object.keys(symlinks).sort(), [
    "a/before",
    "b-dangling",
    "b-dotdot",
    "b-outside",
    "b-outside-rel",
    "b-relative",
    "b-root",
    "b-self",
    "b-slashes",
    "c-to-skipped-link",
  ]);
  // Nothing lost, nothing else moved.
  assertEquals(Object.keys({ ...shown, ...symlinks }).sort(), Object.keys(structure).sort());
  assertEquals(shown["a/file"], structure["a/file"]);
});

Deno.test("the order is Python's: by code point, not by UTF-16 unit", () => {
  // U+1F4E6 (surrogates D83D DCE6) sorts after U+FF5E by code point, before it by UTF-16 unit.
  assert(compareCodePoints("\u{1F4E6}", "\uFF5E") > 0);
  assert("\u{1F4E6}" < "\uFF5E");
  assert(compareCodePoints("a", "a/b") < 0);
  assert(compareCodePoints("a/b", "a-b") > 0);
  assertEquals(compareCodePoints("x", "x"), 0);
  const structure: Record<string, Entry> = {
    "\uFF5E": file(),
    "\u{1F4E6}": link("\u{1F4E6}", `${ROOT}/\uFF5E`),
    "\uFF5F": link("\uFF5F", `${ROOT}/\u{1F4E6}`),
  };
  const { symlinks } = splitSymlinks(structure);
  // The emoji link comes after its target; the other one before its target.
  assertEquals(Object.keys(symlinks), ["\uFF5F"]);
});

Deno.test("symlinks round-trip through the snapshot field that 0.4.0 ignores", () => {
  const structure: Record<string, Entry> = {
    "file": file(),
    "link-in": link("link-in", `${ROOT}/file`),
    "link-rel": link("link-rel", "file"),
  };
  const bytes = encodeSnapshot({ files: {}, structure, identity: "h:/srv/tree:1" });
  const raw = JSON.parse(new TextDecoder().decode(bytes));
  assertEquals(Object.keys(raw), ["files", "structure", "identity", "symlinks"]);
  assertEquals(Object.keys(raw.structure), ["file", "link-in"]);
  assertEquals(Object.keys(raw.symlinks), ["link-rel"]);
  const decoded = decodeSnapshot(bytes, "snapshot_X");
  assertEquals({ ...decoded.structure }, structure);
  assert(!("symlinks" in decoded));
  // Without such links, the snapshot is exactly what 0.4.0 writes.
  const plain = encodeSnapshot({ files: {}, structure: { file: file() }, identity: "i" });
  assertEquals(Object.keys(JSON.parse(new TextDecoder().decode(plain))), [
    "files",
    "structure",
    "identity",
  ]);
});

Deno.test("a damaged symlinks field is refused with one clear line, a bad entry of it refused", async () => {
  const good = { ...link("l", "x") };
  for (const symlinks of [[], "x", null]) {
    const text = JSON.stringify({ files: {}, structure: { f: file() }, identity: "i", symlinks });
    const error = await assertRejects(
      () =>
        Promise.resolve().then(() => decodeSnapshot(new TextEncoder().encode(text), "snapshot_X")),
      SpareError,
    );
    assertStringIncludes(
      error.message,
      "snapshot snapshot_X is damaged: symlinks is not a map of paths to symlinks",
    );
  }
  const cases: [unknown, string, string][] = [
    [{ l: { ...good, type: "file" } }, "l", "its entry in symlinks is not a symlink"],
    [{ l: { ...good, target: 5 } }, "l", "its target is missing or not text"],
    [{ l: { ...good, link: [] } }, "l", "its link is not text"],
    [{ l: { ...good, mtime_ns: "now" } }, "l", "its mtime_ns is missing or not a time"],
    [{ f: good }, "f", "it is both in structure and in symlinks"],
  ];
  for (const [symlinks, path, reason] of cases) {
    const text = JSON.stringify({ files: {}, structure: { f: file() }, identity: "i", symlinks });
    const decoded = decodeSnapshot(new TextEncoder().encode(text), "snapshot_X");
    assertEquals(decoded.refused, [{ path, reason }]);
    assertEquals(Object.keys(decoded.structure), path === "f" ? [] : ["f"]);
  }
  // A path named __proto__ is a path like any other.
  const text = `{"files":{},"structure":{},"identity":"i","symlinks":{"__proto__":${
    JSON.stringify(good)
  }}}`;
  const decoded = decodeSnapshot(new TextEncoder().encode(text), "snapshot_X");
  assertEquals(Object.keys(decoded.structure), ["__proto__"]);
  assert(Object.hasOwn(decoded.structure, "__proto__"), "a path, not the prototype");
  assertEquals(decoded.structure["__proto__"].type, "symlink");
});

Deno.test({
  name: "every kind of symlink round-trips; 0.4.0's structure holds only the ones it can restore",
  ignore: !hasServer,
  // The SDK keeps pooled connections and timers beyond the test.
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const env = cliEnv("symlinks");
    const { store, close } = openBucket(env);
    const dirs = new TempDirs();
    try {
      const tmp = await dirs.make();
      const src = `${tmp}/tree`;
      makeOutside(`${tmp}/outside`);
      buildTree(LINK_TREES[0], src, `${tmp}/outside`);
      await spareExpect(0, ["create", "--path", src], env);

      // The snapshot as 0.4.0 reads it.
      const raw = await rawSnapshot(store, env.SPARE_BUCKET, env.SPARE_PASSWORD) as Record<
        string,
        Record<string, { type: string; target?: string }>
      >;
      const linksIn = (field: Record<string, { type: string }>) =>
        Object.keys(field).filter((p) => field[p].type === "symlink").sort();
      assertEquals(linksIn(raw.structure), ["z-abs-after-target", "z-abs-dir", "z-chain"]);
      assertEquals(linksIn(raw.symlinks), [
        "a-abs-before-target",
        "dangling-abs",
        "dangling-out",
        "dangling-rel",
        "dir/outside-file",
        "dir/relative-up",
        "outside-dir",
        "outside-relative",
        "relative-dir",
        "relative-same",
      ]);
      assertEquals(raw.structure["z-abs-dir"].target, "dir");

      // Our restore brings back every link with its text as read.
      const restored = `${tmp}/restored`;
      await spareExpect(0, ["restore", "--path", restored], env);
      await spareExpect(0, ["verify"], env);
      const want = await describeTree(src);
      const got = await describeTree(restored);
      for (const entry of Object.values(got.entries)) {
        if (entry.link?.startsWith(`${src}/`)) entry.link = `$ROOT${entry.link.slice(src.length)}`;
      }
      assertEquals(got, want);
      assertEquals((await Deno.stat(`${tmp}/outside/outside.txt`)).mode! & 0o7777, 0o640);
    } finally {
      close();
      await dirs.removeAll();
    }
  },
});
