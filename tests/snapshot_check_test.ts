/** Issue 13: the checks every decoded snapshot passes (pure functions), and RestoreTarget's refusals. */
import { assert, assertEquals, assertStringIncludes, assertThrows } from "./assert.ts";
import { decodeSnapshot, decodeSnapshotText, digestByPath } from "../lib/snapshot/snapshot.ts";
import { ancestorsOf, checkEntries, entryProblem, pathProblem } from "../lib/snapshot/check.ts";
import { RestoreTarget } from "../lib/restore/target.ts";
import { entry } from "./snapshot_writer.ts";

const DIGEST = "a".repeat(64);

Deno.test("snapshot paths: relative, non-empty, plain names only", () => {
  for (
    const good of ["a", "a/b", "a b/c.txt", ".hidden", "..dots", "a/...", "ü/名", "a..b/.c/d."]
  ) {
    assertEquals(pathProblem(good), undefined, good);
  }
  const bad: [string, string][] = [
    ["", "empty"],
    ["/etc/passwd", "absolute"],
    ["../x", ".. component"],
    ["a/../../x", ".. component"],
    ["./x", ". component"],
    ["a/./x", ". component"],
    ["a//b", "empty component"],
    ["a/", "empty component"],
    ["a\0b", "NUL"],
    [".", ". component"],
    ["..", ".. component"],
    ["a/..", ".. component"],
    ["a/.", ". component"],
    ["/", "absolute"],
    ["a/b//", "empty component"],
  ];
  for (const [path, reason] of bad) assertStringIncludes(pathProblem(path) ?? "", reason, path);
  assertEquals(ancestorsOf("a/b/c"), ["a", "a/b"]);
  assertEquals(ancestorsOf("a"), []);
});

Deno.test("snapshot entries: fields of the right type, mode bits that agree with the type", () => {
  assertEquals(entryProblem(entry("file")), undefined);
  assertEquals(entryProblem(entry("directory")), undefined);
  assertEquals(entryProblem(entry("symlink", { target: "t" })), undefined);
  assertEquals(entryProblem(entry("file", { mode: 0o644 })), undefined, "no type bits: allowed");
  assertEquals(entryProblem(entry("file", { mtime_ns: -5 })), undefined, "before 1970");
  const bad: [unknown, string][] = [
    [null, "not an object"],
    [[], "not an object"],
    [entry("file", { type: "socket" }), "type"],
    [entry("file", { user: 0 }), "user"],
    [{ ...entry("file"), group: undefined }, "group"],
    [entry("file", { mode: "644" }), "mode"],
    [entry("file", { mode: 0o1000000 }), "mode"],
    [entry("file", { size: -1 }), "size"],
    [entry("file", { size: 1.5 }), "size"],
    [{ ...entry("file"), inode: undefined }, "inode"],
    [entry("file", { mtime_ns: "now" }), "mtime_ns"],
    [entry("file", { ctime_ns: "now" }), "ctime_ns"],
    [entry("file", { empty: "yes" }), "empty"],
    [entry("file", { mode: 0o120777 }), "not the mode of a file"],
    [entry("directory", { mode: 0o100644 }), "not the mode of a directory"],
    [entry("symlink", { target: "t", mode: 0o040755 }), "not the mode of a symlink"],
    [entry("symlink"), "target"],
    [entry("symlink", { target: "t", link: 5 }), "link"],
    [entry("symlink", { target: "" }), "empty"],
  ];
  for (const [value, reason] of bad) {
    assertStringIncludes(entryProblem(value) ?? "", reason, JSON.stringify(value));
  }
});

Deno.test("checkEntries keeps the valid part and refuses the rest, whatever the key order", () => {
  for (const linkFirst of [true, false]) {
    const structure: Record<string, unknown> = { d: entry("directory") };
    if (linkFirst) structure.l = entry("symlink", { target: "/etc" });
    structure["l/x"] = entry("file");
    structure["l/sub/y"] = entry("file");
    if (!linkFirst) structure.l = entry("symlink", { target: "/etc" });
    structure["d/f"] = entry("file", { size: 1 });
    const checked = checkEntries({ [DIGEST]: ["d/f", "l/x"] }, structure);
    assertEquals(Object.keys(checked.structure).sort(), ["d", "d/f", "l"]);
    assertEquals(checked.files[DIGEST], ["d/f"]);
    assertEquals(checked.refused.map((r) => r.path).sort(), ["l/sub/y", "l/x"]);
    assert(checked.refused.every((r) => r.reason === "it lies under the symlink l"));
  }
  // keys that are Object.prototype's names are plain paths
  const parsed = JSON.parse(
    JSON.stringify({ constructor: entry("directory") }).replace(
      "{",
      `{"__proto__":${JSON.stringify(entry("file"))},`,
    ),
  );
  const checked = checkEntries({}, parsed);
  assertEquals(Object.keys(checked.structure).sort(), ["__proto__", "constructor"]);
  assertEquals(checked.structure["__proto__"].type, "file");
  assertEquals(checked.refused, []);
});

Deno.test("checkEntries maps each path it keeps in files to its digest, and no other", () => {
  const other = "b".repeat(64);
  const structure: Record<string, unknown> = {
    a: entry("file"),
    b: entry("file"),
    twice: entry("file"),
    dir: entry("directory"),
  };
  const checked = checkEntries({
    [DIGEST]: ["a", "twice", "dir", "missing", "../up"],
    [other]: ["b", "twice"],
  }, structure);
  // "twice" is listed under two digests, "dir" is no file, "missing" is not described
  assertEquals(checked.digestOfPath, new Map([["a", DIGEST], ["b", other]]));
  const inverted = Object.entries(checked.files).flatMap(([d, paths]) => paths.map((p) => [p, d]));
  assertEquals(new Map(inverted as [string, string][]), checked.digestOfPath);
  // kept by the decoding only when asked (create), and then what digestByPath gives
  const text = JSON.stringify({ files: { [DIGEST]: ["a"] }, structure: { a: entry("file") } })
    .replace("}}", '}},"identity":"h:/p:1"');
  assertEquals(decodeSnapshotText(text, "s").digestOfPath, undefined);
  const kept = decodeSnapshotText(text, "s", true);
  assertEquals(kept.digestOfPath, new Map([["a", DIGEST]]));
  assert(digestByPath(kept) === kept.digestOfPath);
  assertEquals(digestByPath(decodeSnapshotText(text, "s")), new Map([["a", DIGEST]]));
});

Deno.test("decodeSnapshot returns refused entries rather than throwing", () => {
  const text = JSON.stringify({
    files: { [DIGEST]: ["../x", "ok"], "BAD": ["bad"] },
    structure: { ok: entry("file", { size: 1 }), bad: entry("file", { size: 1 }) },
    identity: "h:/p:1",
  });
  const snapshot = decodeSnapshot(new TextEncoder().encode(text), "snapshot_X");
  assertEquals(Object.keys(snapshot.structure), ["ok"]);
  assertEquals(snapshot.files[DIGEST], ["ok"]);
  assertEquals(snapshot.refused?.map((r) => r.path), ["../x", "bad"]);
});

Deno.test("RestoreTarget writes nothing below a symlink, nor through one", async () => {
  const root = await Deno.makeTempDir();
  const outside = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${outside}/victim`, "original");
    const target = new RestoreTarget(root, false);
    target.makeDirectory("d");
    target.makeSymlink("l", outside);
    target.makeSymlink("d/v", `${outside}/victim`);
    assertThrows(() => target.makeDirectory("l/sub"), Error);
    assertThrows(() => target.createTemporary("l/x"), Error);
    assertThrows(() => target.writeEmpty("l/victim"), Error);
    assertThrows(() => target.link("d", "l/y"), Error);
    assertThrows(() => target.setMode("d/v", 0o777), Error);
    // a file created where a symlink is replaces the link, never writes through it
    assertThrows(() => target.link("d", "d/v"), Error); // not resuming: never replaces
    const resumed = new RestoreTarget(root, true);
    resumed.makeDirectory("d");
    resumed.writeEmpty("d/v");
    assert((await Deno.lstat(`${root}/d/v`)).isFile);
    assertEquals(await Deno.readTextFile(`${outside}/victim`), "original");
    assertEquals([...Deno.readDirSync(outside)].map((e) => e.name), ["victim"]);
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});
