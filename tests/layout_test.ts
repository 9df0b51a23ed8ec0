/**
 * Keeps the "May import:" line of each lib/<folder>/mod.ts (and docs/ARCHITECTURE.md's import
 * direction) true: no file of a folder imports a folder that its mod.ts does not allow, no
 * two folders import each other, and a folder is imported only through its mod.ts.
 */
import { assertEquals } from "./assert.ts";

const LIB = new URL("../lib/", import.meta.url).pathname;

/** The folders of lib/ that have a mod.ts, with the folders their mod.ts allows. */
function allowedImports(): Map<string, Set<string>> {
  const allowed = new Map<string, Set<string>>();
  for (const entry of Deno.readDirSync(LIB)) {
    if (!entry.isDirectory) continue;
    let mod: string;
    try {
      mod = Deno.readTextFileSync(`${LIB}${entry.name}/mod.ts`);
    } catch {
      continue; // a folder without mod.ts is not checked
    }
    const line = mod.match(/May import: ([^.]*)\./)?.[1];
    if (line === undefined) throw new Error(`lib/${entry.name}/mod.ts has no "May import:" line`);
    const names = line.startsWith("nothing") ? [] : line.split(",").map((n) => n.trim());
    allowed.set(entry.name, new Set(names));
  }
  return allowed;
}

/** Every folder of lib/ that a file of `folder` imports (through relative imports). */
function importedFolders(folder: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(dir)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) walk(path);
      if (!entry.isFile || !entry.name.endsWith(".ts") || entry.name === "mod.ts") continue;
      const text = Deno.readTextFileSync(path);
      for (const [, spec] of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(?\s*)"(\.[^"]+)"/g)) {
        const target = new URL(spec, `file://${path}`).pathname;
        if (!target.startsWith(LIB)) continue;
        const other = target.slice(LIB.length).split("/")[0];
        if (other === folder || other.endsWith(".ts")) continue;
        found.set(other, [...found.get(other) ?? [], path.slice(LIB.length)]);
      }
    }
  };
  walk(`${LIB}${folder}`);
  return found;
}

Deno.test("each folder of lib/ imports only the folders its mod.ts allows, and none imports back", () => {
  const allowed = allowedImports();
  const problems: string[] = [];
  const imports = new Map<string, Set<string>>();
  for (const [folder, may] of allowed) {
    const found = importedFolders(folder);
    imports.set(folder, new Set(found.keys()));
    for (const [other, files] of found) {
      if (allowed.has(other) && !may.has(other)) {
        problems.push(`lib/${folder} imports lib/${other} (${files.join(", ")})`);
      }
    }
  }
  for (const [folder, others] of imports) {
    for (const other of others) {
      if (folder < other && imports.get(other)?.has(folder)) {
        problems.push(`lib/${folder} and lib/${other} import each other`);
      }
    }
  }
  assertEquals(problems, []);
});

Deno.test("every folder of lib/ has a mod.ts, and other folders import it only through that", () => {
  const problems: string[] = [];
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(dir)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) {
        if (dir === LIB.replace(/\/$/, "")) {
          try {
            Deno.statSync(`${path}/mod.ts`);
          } catch {
            problems.push(`lib/${entry.name} has no mod.ts`);
          }
        }
        walk(path);
        continue;
      }
      if (!entry.name.endsWith(".ts")) continue;
      const own = path.slice(LIB.length).split("/")[0];
      const text = Deno.readTextFileSync(path);
      for (const [, spec] of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(?\s*)"(\.[^"]+)"/g)) {
        const target = new URL(spec, `file://${path}`).pathname.slice(LIB.length);
        const [folder, file] = target.split("/");
        if (file === undefined || folder === own || file === "mod.ts") continue;
        problems.push(`${path.slice(LIB.length)} imports ${target} (not ${folder}/mod.ts)`);
      }
    }
  };
  walk(LIB.replace(/\/$/, ""));
  assertEquals(problems, []);
});
