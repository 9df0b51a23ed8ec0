/**
 * The buckets written by the real spare 0.4.0 (tests/fixtures/, see scripts/make_fixtures.ts),
 * each loaded into a fresh bucket on the test server: verify passes, and restore gives back the
 * tree of description.json: content, modes, hardlink groups, symlinks and mtimes.
 */
import { assert, assertEquals } from "./assert.ts";
import { cliEnv, hasServer, spareExpect } from "./cli.ts";
import { describedDigests, fixtureDescription, fixtureNames, fixtureObjects } from "./fixture.ts";
import { describeTree } from "./fixture_trees.ts";
import { openBucket, TempDirs } from "./tree.ts";

for (const name of fixtureNames()) {
  Deno.test({
    name: `fixture ${name} of 0.4.0: verify passes and restore equals the described tree`,
    ignore: !hasServer,
    // The SDK keeps pooled connections and timers beyond the test.
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const description = await fixtureDescription(name);
      const env = cliEnv(`fixture-${name}`, description.password);
      const { store, close } = openBucket(env);
      const dirs = new TempDirs();
      try {
        const objects = await fixtureObjects(name);
        assert(objects.has(".spare"), "the fixture has no .spare marker");
        // One snapshot, and exactly the digests it uses: older ones were pruned.
        const prefixes = new Set(
          [...objects.keys()].filter((k) => !k.startsWith("."))
            .map((k) => k.split("/")[0]),
        );
        const snapshots = [...prefixes].filter((p) => p.startsWith("snapshot_"));
        assertEquals(snapshots.length, 1);
        assertEquals(
          [...prefixes].filter((p) => !p.startsWith("snapshot_")).sort(),
          describedDigests(description),
        );

        await store.createBucket(env.SPARE_BUCKET);
        for (const [key, body] of objects) await store.put(env.SPARE_BUCKET, key, body);

        const verify = await spareExpect(0, ["verify"], env);
        assertEquals(verify.stderr, "");

        const root = await dirs.make();
        const restore = await spareExpect(0, ["restore", "--path", root], env);
        assertEquals(restore.stderr, "");

        const got = await describeTree(root);
        assertEquals(Object.keys(got.entries), Object.keys(description.entries));
        for (const [path, want] of Object.entries(description.entries)) {
          assertEquals(got.entries[path], want, `${path} differs`);
        }
        assertEquals(got.link_groups, description.link_groups);
      } finally {
        close();
        await dirs.removeAll();
      }
    },
  });
}
