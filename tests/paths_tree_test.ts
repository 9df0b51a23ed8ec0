/** The tree of many paths of `deno task compat`: its plan, and the walk that compares two trees. */
import { assert, assertEquals } from "./assert.ts";
import {
  buildPathsTree,
  describePathsTree,
  diffPathsTrees,
  pathsTreePlan,
  type PlannedPath,
} from "./paths_tree.ts";

Deno.test("paths tree: each content has one mode, links name earlier files, kinds per folder", () => {
  const plan = [...pathsTreePlan(3000)];
  assertEquals(plan.length, 3000);
  const byPath = new Map<string, PlannedPath>();
  const modeOfText = new Map<string, number>();
  const kinds: Record<string, number> = {};
  for (const entry of plan) {
    assert(!byPath.has(entry.path), `${entry.path} twice`);
    kinds[entry.kind] = (kinds[entry.kind] ?? 0) + 1;
    if (entry.kind === "file") {
      // 0.4.0's restore gives copies of one content the first copy's mode.
      const mode = modeOfText.get(entry.text) ?? entry.mode;
      assertEquals(entry.mode, mode, `mode of ${JSON.stringify(entry.text)}`);
      modeOfText.set(entry.text, mode);
    }
    if (entry.kind === "hardlink") assertEquals(byPath.get(entry.existing)?.kind, "file");
    if (entry.kind === "symlink") {
      // 0.4.0's restore sets the target's mode from the link: the target exists, sorts first,
      // and has the link's mode already.
      const target = byPath.get(entry.target);
      assert(target?.kind === "file" && target.mode === 0o777 && entry.target < entry.path);
    }
    byPath.set(entry.path, entry);
  }
  assertEquals(kinds, { file: 2935, hardlink: 32, symlink: 30, dir: 3 });
  assert(modeOfText.has(""));
});

Deno.test("paths tree: the walk finds every difference of a restore from its source", () => {
  const root = Deno.makeTempDirSync({ prefix: "spare-paths-tree-" });
  try {
    const [src, copy] = [`${root}/src`, `${root}/copy`];
    assertEquals(buildPathsTree(src, 2000), 2002);
    buildPathsTree(copy, 2000);
    const source = describePathsTree(src);
    assertEquals(source.lines.size, 2002);
    assertEquals(
      source.lines.get("d0000/f0000042"),
      `symlink ${1_609_459_242_000} -> $ROOT/d0000/f0000041`,
    );
    assert(source.linkGroups.has("d0000/f0000499 = d0001/f0001500"));
    assertEquals(diffPathsTrees(describePathsTree(copy), source, true), []);

    // An mtime, seen only when asked for.
    Deno.utimeSync(`${copy}/d0000/f0000001`, 5, 5);
    assertEquals(diffPathsTrees(describePathsTree(copy), source, false), []);
    assertEquals(diffPathsTrees(describePathsTree(copy), source, true).length, 1);
    // A mode, a content of the same size, a link text, a missing and an extra path.
    Deno.chmodSync(`${copy}/d0000/f0000002`, 0o700);
    Deno.writeTextFileSync(`${copy}/d0000/f0000000`, "content 9\n");
    Deno.utimeSync(`${copy}/d0000/f0000000`, 1_609_459_200, 1_609_459_200);
    Deno.removeSync(`${copy}/d0000/f0000142`);
    Deno.symlinkSync(`${copy}/d0000/f0000000`, `${copy}/d0000/f0000142`);
    Deno.removeSync(`${copy}/d0001/empty-dir`);
    Deno.writeTextFileSync(`${copy}/d0001/extra`, "");
    const problems = diffPathsTrees(describePathsTree(copy), source, false);
    assertEquals(problems.map((p) => p.split(":")[0]).sort(), [
      "d0000/f0000000",
      "d0000/f0000002",
      "d0000/f0000142",
      "d0001/empty-dir",
      "d0001/extra",
    ]);
    // A hardlink group broken into copies of the same content, mode and mtime.
    const [a, b] = [`${copy}/d0000/f0000012`, `${copy}/d0000/f0000013`];
    Deno.removeSync(b);
    Deno.copyFileSync(a, b);
    Deno.chmodSync(b, Deno.statSync(a).mode! & 0o7777);
    const mtime = Deno.statSync(a).mtime!;
    Deno.utimeSync(b, mtime, mtime);
    const groups = diffPathsTrees(describePathsTree(copy), source, false);
    assertEquals(groups.length, 6);
    assertEquals(groups[5], "hardlink group d0000/f0000012 = d0000/f0000013: not restored as one");
    // Long lists are cut.
    assertEquals(diffPathsTrees(describePathsTree(copy), source, false, 2).at(-1), "and 4 more");
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
