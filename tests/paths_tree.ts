/**
 * The tree of many paths of `deno task compat` (issue 29): tiny files in folders of 1,000 with a
 * few distinct contents, and in every folder empty files, hardlinks (within the folder and to the
 * previous folder), absolute symlinks into the tree and an empty directory. It is built so that
 * 0.4.0's restore gives back the source itself, mtimes aside: every content has one mode (0.4.0's
 * copies take the first copy's mode), and symlink targets are files of mode 0777 (0.4.0's restore
 * gives a link's target the link's mode) that sort before their link.
 *
 * Describing a tree is one synchronous walk (no subprocess, no promise per path): a line per
 * path and the hardlink groups, compared with `diffPathsTrees`.
 */
import fs from "node:fs";
import { createHash } from "node:crypto";

/** Paths of a folder. */
export const PATHS_PER_FOLDER = 1000;
/** 2021-01-01T00:00:00Z in seconds: entry i gets this mtime plus i seconds. */
const EPOCH_S = 1_609_459_200;
/** The distinct contents of the plain files, each with its one mode. */
const CONTENTS: { text: string; mode: number }[] = [
  { text: "content 0\n", mode: 0o644 },
  { text: "content 1\n", mode: 0o644 },
  { text: "content two\n", mode: 0o600 },
  { text: "#!/bin/sh\necho 3\n", mode: 0o755 },
  { text: "content 4 is a bit longer than the others\n", mode: 0o640 },
];
/** The content of symlink targets (mode 0777, see above). */
const LINK_TARGET = { text: "a symlink points here\n", mode: 0o777 };

/** One path of the tree (folders aside), as `pathsTreePlan` yields it. */
export type PlannedPath =
  | { kind: "file"; path: string; text: string; mode: number; mtimeS: number }
  | { kind: "hardlink"; path: string; existing: string }
  | { kind: "symlink"; path: string; target: string; mtimeS: number }
  | { kind: "dir"; path: string; mode: number; mtimeS: number };

/** The folder of entry `i`. */
export function pathsFolderOf(i: number): string {
  return `d${String(Math.floor(i / PATHS_PER_FOLDER)).padStart(4, "0")}`;
}

function nameOf(i: number): string {
  return `${pathsFolderOf(i)}/f${String(i).padStart(7, "0")}`;
}

/**
 * The `count` entries of the tree in order (each folder's entries together; a hardlink after the
 * file it names, a symlink after its target). Per 100 entries of a folder: one empty file, one
 * hardlink beside its file, one symlink target and its symlink; per folder one empty directory
 * and (after the first folder) a hardlink to a file of the previous folder.
 */
export function* pathsTreePlan(count: number): Generator<PlannedPath> {
  for (let i = 0; i < count; i++) {
    const path = nameOf(i);
    const j = i % PATHS_PER_FOLDER;
    const mtimeS = EPOCH_S + i;
    if (j === 500 && i >= PATHS_PER_FOLDER) {
      yield { kind: "hardlink", path, existing: nameOf(i - PATHS_PER_FOLDER - 1) };
    } else if (j === 777) {
      yield { kind: "dir", path: `${pathsFolderOf(i)}/empty-dir`, mode: 0o750, mtimeS };
    } else if (j % 100 === 7) {
      yield { kind: "file", path, text: "", mode: 0o600, mtimeS };
    } else if (j % 100 === 13) {
      yield { kind: "hardlink", path, existing: nameOf(i - 1) };
    } else if (j % 100 === 41) {
      yield { kind: "file", path, text: LINK_TARGET.text, mode: LINK_TARGET.mode, mtimeS };
    } else if (j % 100 === 42) {
      yield { kind: "symlink", path, target: nameOf(i - 1), mtimeS };
    } else {
      const content = CONTENTS[i % CONTENTS.length];
      yield { kind: "file", path, text: content.text, mode: content.mode, mtimeS };
    }
  }
}

/** Builds the tree of `count` entries at `root` (made here), synchronously; the paths made. */
export function buildPathsTree(root: string, count: number): number {
  Deno.mkdirSync(root, { recursive: true });
  const encoder = new TextEncoder();
  const bytes = new Map<string, Uint8Array>();
  const folders: string[] = [];
  let paths = 0;
  for (const entry of pathsTreePlan(count)) {
    const folder = entry.path.slice(0, entry.path.indexOf("/"));
    if (folders.at(-1) !== folder) {
      Deno.mkdirSync(`${root}/${folder}`);
      folders.push(folder);
      paths++;
    }
    const abs = `${root}/${entry.path}`;
    paths++;
    if (entry.kind === "file") {
      let data = bytes.get(entry.text);
      if (!data) bytes.set(entry.text, data = encoder.encode(entry.text));
      Deno.writeFileSync(abs, data, { mode: entry.mode });
      Deno.chmodSync(abs, entry.mode); // not narrowed by the umask
      Deno.utimeSync(abs, entry.mtimeS, entry.mtimeS);
    } else if (entry.kind === "hardlink") {
      Deno.linkSync(`${root}/${entry.existing}`, abs);
    } else if (entry.kind === "symlink") {
      Deno.symlinkSync(`${root}/${entry.target}`, abs);
      const time = new Date(entry.mtimeS * 1000);
      fs.lutimesSync(abs, time, time);
    } else {
      Deno.mkdirSync(abs);
      Deno.chmodSync(abs, entry.mode);
      Deno.utimeSync(abs, entry.mtimeS, entry.mtimeS);
    }
  }
  // Folders last, once their content is written: mode 0755 and an mtime of their own.
  folders.forEach((folder, n) => {
    const abs = `${root}/${folder}`;
    Deno.chmodSync(abs, 0o755);
    Deno.utimeSync(abs, EPOCH_S - 1000 + n, EPOCH_S - 1000 + n);
  });
  return paths;
}

/** A tree as one walk sees it: a line per path, and the hardlink groups. */
export interface PathsDescription {
  /** Path → `type mode size content-sha256-prefix mtime-ms`, or `symlink mtime-ms -> text`. */
  lines: Map<string, string>;
  /** Groups of paths sharing an inode (two or more), each sorted, as one string per group. */
  linkGroups: Set<string>;
}

/**
 * Describes every path under `root` in one synchronous walk; symlink texts under `root` are
 * written as `$ROOT/...`.
 */
export function describePathsTree(root: string): PathsDescription {
  const lines = new Map<string, string>();
  const byInode = new Map<number, string[]>();
  const contentKeys = new Map<string, string>();
  const latin1 = new TextDecoder("latin1");
  const walk = (rel: string) => {
    const dir = rel ? `${root}/${rel}` : root;
    for (const item of Deno.readDirSync(dir)) {
      const path = rel ? `${rel}/${item.name}` : item.name;
      const abs = `${dir}/${item.name}`;
      const info = Deno.lstatSync(abs);
      const mode = ((info.mode ?? 0) & 0o7777).toString(8).padStart(4, "0");
      const mtime = info.mtime!.getTime();
      if (info.isSymlink) {
        const text = Deno.readLinkSync(abs);
        const link = text.startsWith(`${root}/`) ? `$ROOT${text.slice(root.length)}` : text;
        lines.set(path, `symlink ${mtime} -> ${link}`);
      } else if (info.isDirectory) {
        lines.set(path, `directory ${mode} ${mtime}`);
        walk(path);
      } else {
        const data = Deno.readFileSync(abs);
        const raw = latin1.decode(data);
        let key = contentKeys.get(raw);
        if (!key) {
          key = createHash("sha256").update(data).digest("hex").slice(0, 16);
          contentKeys.set(raw, key);
        }
        lines.set(path, `file ${mode} ${data.length} ${key} ${mtime}`);
        if (info.nlink! > 1) {
          const group = byInode.get(info.ino!);
          if (group) group.push(path);
          else byInode.set(info.ino!, [path]);
        }
      }
    }
  };
  walk("");
  const linkGroups = new Set<string>();
  for (const group of byInode.values()) {
    if (group.length > 1) linkGroups.add(group.sort().join(" = "));
  }
  return { lines, linkGroups };
}

/**
 * The differences of `got` from `want` (at most `limit` named, then how many more); with
 * `mtimes` false, mtimes are left out (0.4.0 restores none).
 */
export function diffPathsTrees(
  got: PathsDescription,
  want: PathsDescription,
  mtimes: boolean,
  limit = 10,
): string[] {
  const problems: string[] = [];
  let more = 0;
  const note = (text: string) => problems.length < limit ? problems.push(text) : more++;
  const strip = (line: string) =>
    mtimes
      ? line
      : line.startsWith("symlink ")
      ? line.replace(/^symlink \d+ /, "symlink ")
      : line.replace(/ -?\d+$/, "");
  for (const [path, line] of want.lines) {
    const other = got.lines.get(path);
    if (other === undefined) note(`${path}: missing`);
    else if (strip(other) !== strip(line)) note(`${path}: ${other} != ${line}`);
  }
  for (const path of got.lines.keys()) {
    if (!want.lines.has(path)) note(`${path}: not in the source`);
  }
  for (const group of want.linkGroups) {
    if (!got.linkGroups.has(group)) note(`hardlink group ${group}: not restored as one`);
  }
  for (const group of got.linkGroups) {
    if (!want.linkGroups.has(group)) note(`hardlink group ${group}: not in the source`);
  }
  if (more) problems.push(`and ${more} more`);
  return problems;
}
