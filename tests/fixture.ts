/** The buckets written by the real spare 0.4.0 in tests/fixtures/ (see scripts/make_fixtures.ts). */
import type { FixtureDescription } from "./fixture_trees.ts";

/** tests/fixtures/: one directory per fixture, with objects/ and description.json. */
export const FIXTURES_DIR = new URL("./fixtures/", import.meta.url).pathname;

/** The names of the fixtures, sorted. */
export function fixtureNames(): string[] {
  const names: string[] = [];
  for (const entry of Deno.readDirSync(FIXTURES_DIR)) if (entry.isDirectory) names.push(entry.name);
  return names.sort();
}

/** The description of a fixture's source tree, with its password. */
export async function fixtureDescription(name: string): Promise<FixtureDescription> {
  return JSON.parse(await Deno.readTextFile(`${FIXTURES_DIR}${name}/description.json`));
}

/** Every object of a fixture's bucket: key → bytes. */
export async function fixtureObjects(name: string): Promise<Map<string, Uint8Array>> {
  const root = `${FIXTURES_DIR}${name}/objects/`;
  const objects = new Map<string, Uint8Array>();
  async function walk(dir: string, prefix: string) {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory) await walk(dir + entry.name + "/", prefix + entry.name + "/");
      else objects.set(prefix + entry.name, await Deno.readFile(dir + entry.name));
    }
  }
  await walk(root, "");
  return objects;
}

/** The content digests of a description's non-empty files, sorted. */
export function describedDigests(description: FixtureDescription): string[] {
  const digests = new Set<string>();
  for (const entry of Object.values(description.entries)) {
    if (entry.type === "file" && entry.size) digests.add(entry.blake2b!);
  }
  return [...digests].sort();
}
