/**
 * Issue 27: spare through each provider personality (tests/provider_proxy.ts): create twice
 * (the second prunes), verify, restore, compared with the source tree; and the quirk's own
 * handling, seen in the requests the proxy passed on.
 */
import { assert, assertEquals } from "./assert.ts";
import { type CliEnv, cliEnv, hasServer, spareExpect } from "./cli.ts";
import { checksumHeaders, type PersonalityName, ProviderProxy } from "./provider_proxy.ts";
import { describeTree, openBucket, pseudoRandom, TempDirs } from "./tree.ts";

const options = { ignore: !hasServer, sanitizeResources: false, sanitizeOps: false };

/** DeleteObjects requests (POST /bucket?delete). */
const DELETE_OBJECTS = (r: { method: string; target: string }) =>
  r.method === "POST" && /[?&]delete(=|&|$)/.test(r.target);

/**
 * Runs create, a changed create (which prunes a removed and a changed file's contents),
 * verify and restore through a proxy with `personality`; returns the proxy's record.
 */
async function roundTrip(personality: PersonalityName): Promise<ProviderProxy> {
  const proxy = ProviderProxy.start(personality);
  const direct = cliEnv(personality);
  const env: CliEnv = { ...direct, SPARE_ENDPOINT: proxy.endpoint };
  const dirs = new TempDirs();
  try {
    const src = await dirs.make();
    await Deno.writeTextFile(`${src}/gone.txt`, "removed before the second create\n".repeat(50));
    await Deno.writeTextFile(`${src}/changed.txt`, "first version\n".repeat(80));
    await Deno.mkdir(`${src}/sub`);
    await Deno.writeFile(`${src}/sub/two-blocks.bin`, pseudoRandom(1536 * 1024, 27));
    await spareExpect(0, ["create", "--path", src], env);
    await Deno.remove(`${src}/gone.txt`);
    await Deno.writeTextFile(`${src}/changed.txt`, "second version\n".repeat(80));
    await spareExpect(0, ["create", "--path", src], env);
    // pruned: one snapshot and the two contents it references, nothing else, no lock left
    const { store, bucket, close } = openBucket(direct);
    try {
      const listing = await bucket.listing();
      assertEquals(listing.prefixes.size, 3, `prefixes: ${[...listing.prefixes.keys()]}`);
      assertEquals(listing.strays, []);
      const internal: string[] = [];
      for await (const o of store.list(direct.SPARE_BUCKET, ".")) internal.push(o.key);
      assertEquals(internal, [".spare"], "only the marker is left of the internal objects");
    } finally {
      close();
    }
    await spareExpect(0, ["verify"], env);
    const target = await dirs.make();
    await spareExpect(0, ["restore", "--path", target], env);
    assertEquals(await describeTree(target), await describeTree(src));
    const withChecksums = proxy.requests.filter((r) => checksumHeaders(r).length > 0);
    assertEquals(
      withChecksums.map((r) => `${r.method} ${r.target}: ${checksumHeaders(r)}`),
      [],
      "no request carries a flexible checksum",
    );
    return proxy;
  } finally {
    await proxy.close();
    await dirs.removeAll();
  }
}

Deno.test({
  name: "conditional PUT refused (501): create twice, verify, restore; lock objects used",
  ...options,
  fn: async () => {
    const proxy = await roundTrip("conditional-put-refused");
    assert(proxy.refused > 0, "the conditional PUTs were refused");
    assert(proxy.requests.some((r) => r.method === "GET" && r.target.includes("spare-locks")));
  },
});

Deno.test({
  name: "conditional PUT ignored: create twice, verify, restore; lock objects used",
  ...options,
  fn: async () => {
    const proxy = await roundTrip("conditional-put-ignored");
    const conditional = proxy.requests.filter((r) => r.headers.has("if-none-match"));
    assert(conditional.length > 0);
    // the lock objects are listed: the ignored condition was noticed
    assert(proxy.requests.some((r) => r.method === "GET" && r.target.includes("spare-locks")));
  },
});

Deno.test({
  name: "x-amz-checksum-* refused (501): no request carries one; create twice, verify, restore",
  ...options,
  fn: async () => {
    const proxy = await roundTrip("checksum-refused");
    assertEquals(proxy.refused, 0);
    assert(proxy.requests.some(DELETE_OBJECTS), "the second create deleted in a batch");
  },
});

Deno.test({
  name: "DeleteObjects without Content-MD5 refused (400): the batch carries it",
  ...options,
  fn: async () => {
    const proxy = await roundTrip("delete-needs-md5");
    assertEquals(proxy.refused, 0);
    const batches = proxy.requests.filter(DELETE_OBJECTS);
    assert(batches.length > 0);
    assert(batches.every((r) => r.headers.has("content-md5")));
  },
});

Deno.test({
  name: "DeleteObjects refused (501): one object at a time, the batch tried once per run",
  ...options,
  fn: async () => {
    const proxy = await roundTrip("delete-objects-refused");
    assert(proxy.refused > 0);
    // the second create prunes several prefixes; only its first batch is tried
    assertEquals(proxy.requests.filter(DELETE_OBJECTS).length, proxy.refused);
    assert(proxy.refused <= 2, `batches tried: ${proxy.refused}`);
    assert(proxy.requests.some((r) => r.method === "DELETE" && /[0-9a-f]{64}\//.test(r.target)));
  },
});
