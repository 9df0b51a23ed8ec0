/**
 * The bucket written by the real spare 0.4.0 (../shared/fixtures/spare-0.4.0-a), loaded into
 * a fresh bucket on the test server: verify passes and restore gives back source.tar.
 */
import { assert, assertEquals } from "./assert.ts";
import { cliEnv, hasServer, spareExpect } from "./cli.ts";
import { FIXTURE_DIR, FIXTURE_PASSWORD, fixtureObjects } from "./fixture.ts";
import { describeTree, hardlinkGroups, openBucket, TempDirs } from "./tree.ts";

/** 2021-01-01T00:00:00Z, the mtime of every path of source.tar. */
const FIXTURE_MTIME = Date.UTC(2021, 0, 1);

for (const codec of ["system", "native"]) {
  Deno.test({
    name: `fixture 0.4.0-a, SPARE_LZMA=${codec}: verify passes and restore equals source.tar`,
    ignore: !hasServer,
    // The SDK keeps pooled connections and timers beyond the test.
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const env = { ...cliEnv("fixture", FIXTURE_PASSWORD), SPARE_LZMA: codec };
      const { store, close } = openBucket(env);
      const dirs = new TempDirs();
      try {
        await store.createBucket(env.SPARE_BUCKET);
        const objects = await fixtureObjects();
        assert(objects.has(".spare"), "the fixture has no .spare marker");
        for (const [key, body] of objects) await store.put(env.SPARE_BUCKET, key, body);

        const verify = await spareExpect(0, ["verify"], env);
        assertEquals(verify.stderr, "");

        const expected = await dirs.make();
        const tar = await new Deno.Command("tar", {
          args: ["-xf", `${FIXTURE_DIR}source.tar`, "-C", expected],
          stdout: "null",
          stderr: "piped",
        }).output();
        assert(tar.success, new TextDecoder().decode(tar.stderr));

        const root = await dirs.make();
        const restore = await spareExpect(0, ["restore", "--path", root], env);
        assertEquals(restore.stderr, "");

        const want = await describeTree(expected);
        const got = await describeTree(root);
        assertEquals(Object.keys(got), Object.keys(want));
        // 0.4.0 stored only the tree-relative target: the link points into the restore root.
        assertEquals(want["links/sym-abs"].link, "/tmp/spare-fixture/a/src/hello.txt");
        want["links/sym-abs"].link = `${root}/hello.txt`;
        for (const path of Object.keys(want)) {
          assertEquals(got[path], want[path], `${path} differs`);
          assertEquals(got[path].mtime, FIXTURE_MTIME, `${path}: mtime`);
        }
        assertEquals(await Deno.readTextFile(`${root}/links/sym-abs`), "hello world\n");
        assertEquals(got["hello.txt"].mode, 0o644, "restoring the symlink changed hello.txt");
        assertEquals(got["bin/run.sh"].mode, 0o755);
        assertEquals(got["empty.txt"].size, 0);
        assertEquals(got["data/random.bin"].size, 2_621_440);
        assertEquals(await hardlinkGroups(root), [["links/hard-a.txt", "links/hard-b.txt"]]);
        const [a, b] = await Promise.all(
          ["a", "b"].map((n) => Deno.lstat(`${root}/links/hard-${n}.txt`)),
        );
        assertEquals(a.ino, b.ino);
        assertEquals(a.nlink, 2);
        // same/one.txt and same/two.txt share a digest but were separate files: copies.
        assertEquals(got["same/one.txt"].sha256, got["same/two.txt"].sha256);
      } finally {
        close();
        await dirs.removeAll();
      }
    },
  });
}
