/**
 * Globs on relative snapshot paths (`ls PATTERN`, `restore --include/--exclude`): `*` and `?`
 * stay within one path component, `**` crosses components; everything else is literal. A
 * pattern is written as paths are shown (lib/util/names.ts): `\xNN` is the byte NN, `\\` a
 * backslash.
 */
import { UsageError } from "./errors.ts";
import { parseShownName } from "./names.ts";

/** A compiled glob: true when the whole relative path matches. */
export type GlobMatcher = (path: string) => boolean;

/** Cleans a path or pattern the way snapshot paths are written: no leading `/` or `./`, no trailing `/`. */
export function relativePath(path: string): string {
  let out = path;
  while (out.startsWith("./")) out = out.slice(2);
  out = out.replace(/^\/+/, "").replace(/\/+$/, "");
  return out === "." ? "" : out;
}

function escapeRegex(text: string): string {
  return text.replace(/[.+^${}()|[\]\\]/g, "\\$&");
}

/** The regular expression source of one glob (without anchors). */
export function globSource(pattern: string): string {
  // `a/**/**/b` is `a/**/b`
  const parts = relativePath(pattern).split("/")
    .filter((part, i, all) => !(part === "**" && all[i - 1] === "**"));
  let out = "";
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    const last = i === parts.length - 1;
    if (part === "**") {
      if (parts.length === 1) out += ".*";
      else if (i === 0) out += "(?:.*/)?"; // `**/x`: x at any depth, the top included
      else if (last) out += "/.+"; // `x/**`: everything under x
      else out += "(?:/.*)?/"; // `x/**/y`: y directly under x or deeper
      continue;
    }
    if (i > 0 && parts[i - 1] !== "**") out += "/";
    out += part.split("**").map((piece) =>
      piece.split("").map((ch) => ch === "*" ? "[^/]*" : ch === "?" ? "[^/]" : escapeRegex(ch))
        .join("")
    ).join(".*");
  }
  return out;
}

/** Compiles one glob; an empty pattern is a usage error naming `flag`. */
export function globMatcher(pattern: string, flag = "pattern"): GlobMatcher {
  if (relativePath(pattern) === "") {
    throw new UsageError(`${flag} ${JSON.stringify(pattern)} is empty`);
  }
  const regex = new RegExp(`^${globSource(parseShownName(pattern))}$`);
  return (path) => regex.test(path);
}

/** True when any of `globs` matches the path. */
export function anyGlob(globs: GlobMatcher[], path: string): boolean {
  return globs.some((glob) => glob(path));
}
