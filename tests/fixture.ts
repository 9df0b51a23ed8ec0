/** The bucket written by the real spare 0.4.0, in ../shared/fixtures/spare-0.4.0-a. */

/** Directory of the fixture (objects/, source.tar, snapshot.json). */
export const FIXTURE_DIR =
  new URL("../../shared/fixtures/spare-0.4.0-a/", import.meta.url).pathname;

/** The password the fixture bucket was written with. */
export const FIXTURE_PASSWORD = "correct horse battery staple";

/** Every object of the fixture bucket: key → bytes. */
export async function fixtureObjects(): Promise<Map<string, Uint8Array>> {
  const root = FIXTURE_DIR + "objects/";
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
