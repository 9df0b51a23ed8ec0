/**
 * `deno task fixtures`: writes tests/fixtures/ with the real spare 0.4.0.
 *
 * For each tree of FIXTURE_TREES (tests/fixture_trees.ts) it builds the tree in a temporary
 * directory, runs 0.4.0's `create` (twice for a tree with a change: pruning then shows)
 * against a throwaway S3 server (scripts/s3_server.ts), and stores every object of the bucket
 * under tests/fixtures/<name>/objects/<key> with description.json: the tree as 0.4.0 saw it
 * (paths, types, modes, sizes, BLAKE2b-256 digests, link texts, mtimes, hardlink groups;
 * paths that --skip left out are not in it) and the bucket's password.
 *
 * SPARE_040 names the executable that runs 0.4.0's CLI (see scripts/spare040.ts). The objects
 * differ on every run (0.4.0 draws random nonces); the descriptions do not. Tree names given
 * as arguments (`deno task fixtures names`) make only those fixtures.
 */
import { ObjectStore } from "../lib/s3/client.ts";
import { startS3Server } from "./s3_server.ts";
import { must040, spare040FromEnv } from "./spare040.ts";
import {
  buildTree,
  changeTree,
  describeTree,
  FIXTURE_TREES,
  type FixtureDescription,
  skippedBy040,
} from "../tests/fixture_trees.ts";

const FIXTURES = new URL("../tests/fixtures/", import.meta.url).pathname;

const script = spare040FromEnv("fixtures");
const server = await startS3Server({ log: (m) => console.error(`s3: ${m}`) });
const store = new ObjectStore({
  endpoint: server.endpoint,
  accessKey: server.accessKey,
  secretKey: server.secretKey,
});
const tmp = await Deno.makeTempDir({ prefix: "spare-fixtures-" });
try {
  const chosen = FIXTURE_TREES.filter((t) => !Deno.args.length || Deno.args.includes(t.name));
  if (chosen.length !== (Deno.args.length || chosen.length)) {
    throw new Error(`no such fixture tree among ${Deno.args.join(" ")}`);
  }
  for (const spec of chosen) {
    const root = `${tmp}/${spec.name}`;
    const cwd = `${tmp}/cwd`;
    await Deno.mkdir(cwd, { recursive: true });
    const bucket = {
      endpoint: server.endpoint,
      accessKey: server.accessKey,
      secretKey: server.secretKey,
      bucket: `fixture-${spec.name}`,
      password: `fixture ${spec.name}: correct horse battery staple`,
    };
    const skipArgs = spec.skip.flatMap((p) => ["--skip", p]);
    const tree = buildTree(spec, root, `${tmp}/outside`);
    await must040(script, "create", bucket, cwd, ["--path", root, ...skipArgs]);
    let creates = 1;
    if (changeTree(spec, tree)) {
      await must040(script, "create", bucket, cwd, ["--path", root, ...skipArgs]);
      creates++;
    }

    const described = await describeTree(root);
    const skipped = skippedBy040(spec.skip);
    const entries = Object.fromEntries(
      Object.entries(described.entries).filter(([path]) => !skipped(path)),
    );
    const link_groups = described.link_groups.map((g) => g.filter((p) => !skipped(p)))
      .filter((g) => g.length > 1);
    const description: FixtureDescription = {
      about: spec.about,
      password: bucket.password,
      skip: spec.skip,
      creates,
      entries,
      link_groups,
    };

    const dir = `${FIXTURES}${spec.name}`;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    let count = 0;
    let bytes = 0;
    for await (const object of store.list(bucket.bucket)) {
      const body = await store.get(bucket.bucket, object.key);
      const file = `${dir}/objects/${object.key}`;
      await Deno.mkdir(file.slice(0, file.lastIndexOf("/")), { recursive: true });
      await Deno.writeFile(file, body);
      count++;
      bytes += body.length;
    }
    await Deno.writeTextFile(
      `${dir}/description.json`,
      JSON.stringify(description, null, 2) + "\n",
    );
    console.log(
      `${spec.name}: ${Object.keys(entries).length} paths, ${count} objects (${bytes} bytes), ` +
        `${creates} create${creates > 1 ? "s" : ""}`,
    );
  }
} finally {
  store.close();
  await server.stop();
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
}
