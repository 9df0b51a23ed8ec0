/**
 * The source trees of the 0.4.0 fixtures (tests/fixtures/, made by scripts/make_fixtures.ts)
 * and of `deno task compat`, built deterministically, and the description of a tree that the
 * fixtures store beside the bucket's objects and that the tests compare a restore with.
 */
import fs from "node:fs";
import { digestOf } from "../lib/util/digest.ts";
import { readAny, walkTree } from "./tree.ts";
import { hasEscapedBytes } from "../lib/util/names.ts";
import {
  chmodBytes,
  createNewBytes,
  linkBytes,
  lutimesBytes,
  mkdirBytes,
  readLinkPath,
  symlinkBytes,
  unlinkBytes,
} from "../lib/util/fs_bytes.ts";

/** 2021-01-01T00:00:00Z in seconds: entry n of a tree gets this mtime plus n seconds. */
const EPOCH_S = 1_609_459_200;

/** One path of a described tree. */
export interface DescribedEntry {
  type: "file" | "directory" | "symlink";
  /** Permission bits as 4 octal digits, e.g. "0644". */
  mode: string;
  mtime_ns: number;
  /** Files: size in bytes and content digest (BLAKE2b-256 as hex, as the bucket format). */
  size?: number;
  blake2b?: string;
  /** Symlinks: the link text, with the tree's own root written as `$ROOT`. */
  link?: string;
}

/** A tree as the tests compare it: every path under the root, and the hardlink groups. */
export interface TreeDescription {
  entries: Record<string, DescribedEntry>;
  /** Paths (two or more) that share an inode, each group sorted, groups sorted. */
  link_groups: string[][];
}

/** What tests/fixtures/<name>/description.json holds. */
export interface FixtureDescription extends TreeDescription {
  /** What the fixture covers. */
  about: string;
  /** The password of the bucket. */
  password: string;
  /** The --skip patterns given to 0.4.0. */
  skip: string[];
  /** How many times 0.4.0's create ran (the second after `change`). */
  creates: number;
}

// Names that are not UTF-8 (held as U+DC80+byte) are made through libc, the others through Deno.
function mkdirAny(abs: string): void {
  if (hasEscapedBytes(abs)) mkdirBytes(abs, 0o700);
  else Deno.mkdirSync(abs, { mode: 0o700 });
}

function writeAny(abs: string, data: Uint8Array): void {
  if (!hasEscapedBytes(abs)) return Deno.writeFileSync(abs, data);
  const file = createNewBytes(abs, 0o600);
  try {
    for (let at = 0; at < data.length;) at += file.writeSync(data.subarray(at));
  } finally {
    file.close();
  }
}

function chmodAny(abs: string, mode: number): void {
  if (hasEscapedBytes(abs)) chmodBytes(abs, mode);
  else Deno.chmodSync(abs, mode);
}

function lutimesAny(abs: string, time: Date): void {
  if (hasEscapedBytes(abs)) lutimesBytes(abs, time.getTime() * 1_000_000);
  else fs.lutimesSync(abs, time, time);
}

/** Builds a tree: files, directories, links with fixed modes and mtimes. */
export class TreeBuilder {
  #next = 0;
  readonly #dirs = new Map<string, number>();

  constructor(readonly root: string) {}

  #mtime(): Date {
    return new Date((EPOCH_S + this.#next++) * 1000);
  }

  /** A directory (and its parents, 0755) with `mode`, set by finish(). */
  dir(path: string, mode = 0o755): void {
    const parts = path.split("/");
    for (let i = 1; i < parts.length; i++) {
      const parent = parts.slice(0, i).join("/");
      if (!this.#dirs.has(parent)) this.dir(parent);
    }
    if (!this.#dirs.has(path)) mkdirAny(`${this.root}/${path}`);
    this.#dirs.set(path, mode);
  }

  /** A regular file with content, mode and the next mtime. */
  file(path: string, content: string | Uint8Array, mode = 0o644): void {
    this.#parent(path);
    const abs = `${this.root}/${path}`;
    writeAny(abs, typeof content === "string" ? new TextEncoder().encode(content) : content);
    chmodAny(abs, mode);
    lutimesAny(abs, this.#mtime());
  }

  /** Another name for the file at `existing` (same inode). */
  hardlink(existing: string, path: string): void {
    this.#parent(path);
    const [from, to] = [`${this.root}/${existing}`, `${this.root}/${path}`];
    if (hasEscapedBytes(from + to)) linkBytes(from, to);
    else Deno.linkSync(from, to);
  }

  /** A symlink with `text` (`$ROOT` stands for the tree's root) and the next mtime. */
  symlink(path: string, text: string): void {
    this.#parent(path);
    const abs = `${this.root}/${path}`;
    const link = text.replaceAll("$ROOT", this.root);
    if (hasEscapedBytes(abs + link)) symlinkBytes(link, abs);
    else Deno.symlinkSync(link, abs);
    lutimesAny(abs, this.#mtime());
  }

  /** Removes a file or link. */
  remove(path: string): void {
    const abs = `${this.root}/${path}`;
    if (hasEscapedBytes(abs)) unlinkBytes(abs);
    else Deno.removeSync(abs);
  }

  /** Sets every directory's mode and mtime, deepest first, once its content is written. */
  finish(): void {
    const dirs = [...this.#dirs.keys()].sort((a, b) => b.split("/").length - a.split("/").length);
    for (const path of dirs) {
      const abs = `${this.root}/${path}`;
      chmodAny(abs, this.#dirs.get(path)!);
      lutimesAny(abs, this.#mtime());
    }
  }

  #parent(path: string) {
    const slash = path.lastIndexOf("/");
    if (slash > 0 && !this.#dirs.has(path.slice(0, slash))) this.dir(path.slice(0, slash));
  }
}

/** `size` bytes of numbered text lines (compresses well, differs per seed). */
export function textOf(size: number, seed = 0): string {
  const lines: string[] = [];
  let length = 0;
  for (let n = 0; length < size; n++) {
    const line = `${seed}:${n} the quick brown fox jumps over the lazy dog ${(n * 7919) % 1000}\n`;
    lines.push(line);
    length += line.length;
  }
  return lines.join("").slice(0, size);
}

/** A source tree: how to build it, what 0.4.0 is given, and what changes before a second run. */
export interface TreeSpec {
  name: string;
  about: string;
  skip: string[];
  build(tree: TreeBuilder, outside: string): void;
  /** Changes between a first and a second create (the fixture then shows pruning). */
  change?(tree: TreeBuilder): void;
}

const MIB = 1_048_576;

/** The trees 0.4.0 can express: tests/fixtures/ holds 0.4.0's bucket of each. */
export const FIXTURE_TREES: TreeSpec[] = [
  {
    name: "basic",
    about: "nested directories, modes 0600/0644/0755/0700, empty files, a file of exactly " +
      "one block and one of three with a short last block, hardlink groups across two " +
      "directories, equal content at different inodes, absolute symlinks into the tree, names " +
      "with spaces and non-ASCII characters",
    skip: [],
    build(t) {
      t.file("hello.txt", "hello world\n");
      t.file("empty.txt", "");
      t.file("bin/run.sh", "#!/bin/sh\necho run\n", 0o755);
      t.dir("private", 0o700);
      t.file("private/secret.txt", "do not read\n", 0o600);
      t.file("private/tool", "#!/bin/sh\n", 0o700);
      t.dir("docs/deep/er/est", 0o750);
      t.file("docs/deep/er/est/empty too", "", 0o600);
      t.file("docs/deep/er/est/notes.md", "# notes\n".repeat(20));
      t.file("data/one-block.txt", textOf(MIB, 1));
      t.file("data/several blocks.txt", textOf(2 * MIB + 300_001, 2), 0o600);
      // One inode under three names in two directories, and a second group.
      t.file("links/a.txt", "hardlinked a\n");
      t.hardlink("links/a.txt", "links/b.txt");
      t.hardlink("links/a.txt", "other/c.txt");
      t.file("links/d.txt", "hardlinked d\n", 0o600);
      t.hardlink("links/d.txt", "other/e.txt");
      // Equal content at different inodes, with different modes; one of them hardlinked.
      t.file("same/one.txt", "same content\n");
      t.file("same/two.txt", "same content\n", 0o600);
      t.file("same/three.txt", "same content\n", 0o755);
      t.hardlink("same/three.txt", "other/three.txt");
      // Absolute links into the tree, each sorting after its target.
      t.symlink("links/to-hello", "$ROOT/hello.txt");
      t.symlink("zz-to-docs", "$ROOT/docs");
      t.file("dir with spaces/file with spaces.txt", "spaces\n");
      t.file("ünïcödé/日本語 ñame.txt", "non-ASCII\n", 0o600);
      t.file("ünïcödé/📦 box", "astral\n");
    },
  },
  {
    name: "skip",
    about: "--skip patterns: a directory, a file pattern, a name prefix",
    skip: ["cache", "logs/.*\\.log$", "./tmp"],
    build(t) {
      t.file("keep/a.txt", "kept\n");
      t.file("cache/big.bin", textOf(50_000, 3));
      t.file("cache/sub/x", "cached\n");
      t.file("cache-notes.txt", "skipped too: prefix of cache\n");
      t.file("logs/app.log", "skipped log\n");
      t.file("logs/app.txt", "kept log text\n");
      t.file("logs/old/app.log", "skipped nested log\n");
      t.file("tmpfile", "skipped by ./tmp\n");
      t.file("sub/tmp", "kept: the pattern matches at the start only\n");
    },
  },
  {
    name: "pruned",
    about: "two creates: the second after a file changed and one was removed; pruning left " +
      "one snapshot and only the digests it uses",
    skip: [],
    build(t) {
      t.file("a.txt", "stays\n");
      t.file("b.txt", "first version\n");
      t.file("c.txt", "removed before the second run\n");
      t.file("dir/d.txt", textOf(200_000, 4));
    },
    change(t) {
      t.file("b.txt", "second version, longer\n");
      t.remove("c.txt");
    },
  },
  {
    name: "names",
    about: "names and a link text that are not UTF-8 (Latin-1 bytes, held as U+DC80+byte as " +
      "0.4.0 holds them): files, a directory with files and a directory under it, a hardlink, " +
      "an absolute symlink to such a name; a valid name holding U+FFFD beside one holding the " +
      "byte FF; UTF-8 names",
    skip: [],
    build(t) {
      t.file("\udcff\udcfe-latin1-\udce9.txt", "latin1 file\n");
      t.dir("dir-\udce4", 0o750);
      t.file("dir-\udce4/inner-\udcf6.txt", "inner\n", 0o600);
      t.file("dir-\udce4/ok.txt", "ok\n");
      t.file("dir-\udce4/sub-\udcfc/deep.txt", textOf(3000, 5));
      t.file("empty-\udca0", "");
      // Not of the link's target: 0.4.0's restore gives a link's target the link's mode 0777,
      // and keeps it or not by the order of a hardlink group's paths.
      t.hardlink("dir-\udce4/inner-\udcf6.txt", "dir-\udce4/hard-\udce5");
      // Sorts after its target, so that 0.4.0 restores it too.
      t.symlink("\udcff\udcff-link", "$ROOT/\udcff\udcfe-latin1-\udce9.txt");
      t.file("a\uFFFD.txt", "valid replacement character\n");
      t.file("a\udcff.txt", "byte ff\n");
      t.file("utf8-ünï.txt", "utf-8\n");
    },
  },
];

/**
 * Trees with the links 0.4.0 cannot restore itself (for `deno task compat` only): relative,
 * absolute before and after the target, to a file and a directory outside the tree, dangling.
 * `outside` is a directory beside the tree that holds `outside.txt` (mode 0640).
 */
export const LINK_TREES: TreeSpec[] = [
  {
    name: "links",
    about: "relative, absolute, outside and dangling symlinks",
    skip: [],
    build(t, outside) {
      t.file("target.txt", "the target\n");
      t.file("dir/inner.txt", "inner\n", 0o600);
      t.symlink("a-abs-before-target", "$ROOT/target.txt");
      t.symlink("z-abs-after-target", "$ROOT/target.txt");
      t.symlink("z-abs-dir", "$ROOT/dir");
      t.symlink("z-chain", "$ROOT/z-abs-after-target");
      t.symlink("dir/relative-up", "../target.txt");
      t.symlink("relative-dir", "dir");
      t.symlink("relative-same", "target.txt");
      t.symlink("dir/outside-file", `${outside}/outside.txt`);
      t.symlink("outside-dir", outside);
      t.symlink("outside-relative", "../outside/outside.txt");
      t.symlink("dangling-abs", "$ROOT/nothing");
      t.symlink("dangling-rel", "nothing");
      t.symlink("dangling-out", "/nonexistent/spare-compat");
    },
  },
];

/** Writes `outside.txt` (mode 0640) into the directory beside a link tree. */
export function makeOutside(outside: string): void {
  Deno.mkdirSync(outside, { recursive: true });
  Deno.writeTextFileSync(`${outside}/outside.txt`, "outside the tree\n");
  Deno.chmodSync(`${outside}/outside.txt`, 0o640);
  Deno.chmodSync(outside, 0o750);
}

/** Builds `spec` at `root` (made here; must not exist); the builder is for `changeTree`. */
export function buildTree(spec: TreeSpec, root: string, outside: string): TreeBuilder {
  Deno.mkdirSync(root, { recursive: true });
  const tree = new TreeBuilder(root);
  spec.build(tree, outside);
  tree.finish();
  return tree;
}

/** Applies the spec's change (if any) to a tree built by `buildTree`; false without one. */
export function changeTree(spec: TreeSpec, tree: TreeBuilder): boolean {
  if (!spec.change) return false;
  spec.change(tree);
  tree.finish();
  return true;
}

/** Every path under `root` (root excluded) with type, mode, mtime, content and link text. */
export async function describeTree(root: string): Promise<TreeDescription> {
  const entries: Record<string, DescribedEntry> = {};
  const byInode = new Map<number, string[]>();
  for await (const { path, absolute, info } of walkTree(root)) {
    const base = {
      mode: ((info.mode ?? 0) & 0o7777).toString(8).padStart(4, "0"),
      mtime_ns: info.mtime!.getTime() * 1_000_000,
    };
    if (info.isSymlink) {
      const text = readLinkPath(absolute);
      const link = text === root || text.startsWith(`${root}/`)
        ? `$ROOT${text.slice(root.length)}`
        : text;
      entries[path] = { type: "symlink", ...base, link };
    } else if (info.isDirectory) {
      entries[path] = { type: "directory", ...base };
    } else {
      const data = await readAny(absolute);
      entries[path] = { type: "file", ...base, size: data.length, blake2b: await digestOf(data) };
      byInode.set(info.ino!, [...(byInode.get(info.ino!) ?? []), path]);
    }
  }
  const link_groups = [...byInode.values()].filter((g) => g.length > 1).map((g) => g.sort())
    .sort((a, b) => a[0] < b[0] ? -1 : 1);
  return { entries, link_groups };
}

/** The paths 0.4.0's `--skip` leaves out: `re.match` of `(p1|p2…)`, each with `./` stripped. */
export function skippedBy040(patterns: string[]): (path: string) => boolean {
  if (!patterns.length) return () => false;
  // Python's str.lstrip('./') strips every leading '.' and '/'.
  const regex = new RegExp(`^(${patterns.map((p) => p.replace(/^[./]+/, "")).join("|")})`);
  return (path) => regex.test(path);
}
