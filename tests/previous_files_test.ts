/** Issue 29: create's compact form of the previous snapshot gives what the decoded snapshot gives. */
import { PreviousFiles } from "../lib/backup/previous.ts";
import { decodeSnapshotText } from "../lib/snapshot/snapshot.ts";
import { assertEquals } from "./assert.ts";

const DIGEST_A = "a".repeat(64);
const DIGEST_B = "b".repeat(64);
const base = { user: "u", group: "g", mode: 0o100644, inode: 9 };

Deno.test("PreviousFiles: digest, entry and unchanged ctime per file path, as in the snapshot", () => {
  const structure = {
    "d": { type: "directory", ...base, mode: 0o40755, size: 0, mtime_ns: 1 },
    "d/a": {
      type: "file",
      ...base,
      size: 5,
      mtime_ns: 1765000000123456789,
      ctime_ns: 17e17,
      empty: false,
    },
    "d/b": { type: "file", ...base, user: "other", size: 7, mtime_ns: 2, inode: 3 },
    "d/c": { type: "file", ...base, size: 0, mtime_ns: 2, ctime_ns: 4, empty: true },
    "d/l": { type: "symlink", ...base, mode: 0o120777, size: 1, mtime_ns: 1, target: "a" },
  };
  const text = JSON.stringify({
    files: { [DIGEST_A]: ["d/a"], [DIGEST_B]: ["d/b"] },
    structure,
    identity: "h:/r:1",
  });
  const snapshot = decodeSnapshotText(text, "s", true);
  const previous = new PreviousFiles(snapshot);
  assertEquals(previous.identity, "h:/r:1");
  assertEquals(previous.listedDigests.sort(), [DIGEST_A, DIGEST_B]);
  for (const path of Object.keys(structure)) {
    assertEquals(previous.digest(path), snapshot.digestOfPath!.get(path), path);
    const entry = snapshot.digestOfPath!.has(path) ? snapshot.structure[path] : undefined;
    assertEquals(previous.entry(path), entry, path);
  }
  const a = structure["d/a"] as unknown as Parameters<PreviousFiles["unchangedCtime"]>[1];
  assertEquals(previous.unchangedCtime("d/a", a), 17e17);
  assertEquals(previous.unchangedCtime("d/a", { ...a, size: 6 }), undefined);
  assertEquals(previous.unchangedCtime("d/a", { ...a, mtime_ns: a.mtime_ns + 1000 }), undefined);
  assertEquals(previous.unchangedCtime("d/a", { ...a, inode: 10 }), undefined);
  assertEquals(previous.unchangedCtime("d/a", { ...a, ctime_ns: 1 }), undefined);
  // no ctime in the snapshot: never unchanged
  const b = structure["d/b"] as unknown as typeof a;
  assertEquals(previous.unchangedCtime("d/b", b), undefined);
  assertEquals(
    previous.unchangedCtime("d/c", { ...a, size: 0, mtime_ns: 2, ctime_ns: 4 }),
    undefined,
  );
});
