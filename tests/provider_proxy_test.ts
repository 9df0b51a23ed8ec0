/** The provider-personality proxy itself: each personality answers as it says it does. */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { cliEnv, hasServer } from "./cli.ts";
import { type PersonalityName, PROVIDER_REGION, ProviderProxy } from "./provider_proxy.ts";
import { openBucket } from "./tree.ts";

const options = { ignore: !hasServer, sanitizeResources: false, sanitizeOps: false };

/** A fresh bucket reached through a proxy with `personality`; closed after `fn`. */
async function through(
  personality: PersonalityName,
  fn: (
    ctx: ReturnType<typeof openBucket> & { proxy: ProviderProxy; name: string },
  ) => Promise<void>,
): Promise<void> {
  const proxy = ProviderProxy.start(personality);
  const env = { ...cliEnv("proxy"), SPARE_ENDPOINT: proxy.endpoint };
  const opened = openBucket(env);
  try {
    await opened.store.createBucket(env.SPARE_BUCKET);
    await fn({ ...opened, proxy, name: env.SPARE_BUCKET });
  } finally {
    opened.close();
    await proxy.close();
  }
}

/** An unsigned request straight to the proxy (for the answers it gives itself). */
async function raw(proxy: ProviderProxy, method: string, path: string, headers = {}) {
  const response = await fetch(`${proxy.endpoint}${path}`, { method, headers, body: "x" });
  return { status: response.status, text: await response.text() };
}

Deno.test({
  name: "provider proxy: plain passes requests on, and Ceph honours If-None-Match",
  ...options,
  fn: () =>
    through("plain", async ({ store, proxy, name }) => {
      const big = new Uint8Array(3 * 1024 * 1024).fill(7); // large enough for Expect: 100-continue
      assertEquals(await store.putIfAbsent(name, "k", big), "written");
      assertEquals(await store.putIfAbsent(name, "k", new Uint8Array(1)), "exists");
      assertEquals((await store.get(name, "k")).length, big.length);
      assertEquals(proxy.refused, 0);
      assert(proxy.requests.some((r) => r.headers.has("if-none-match")));
    }),
});

Deno.test({
  name: "provider proxy: conditional-put-refused answers 501 NotImplemented",
  ...options,
  fn: () =>
    through("conditional-put-refused", async ({ store, proxy, name }) => {
      await store.put(name, "plain", new Uint8Array(1));
      assertEquals(await store.putIfAbsent(name, "k", new Uint8Array(1)), "refused");
      assertEquals(proxy.refused, 1);
    }),
});

Deno.test({
  name: "provider proxy: conditional-put-ignored re-signs without the header, the PUT overwrites",
  ...options,
  fn: () =>
    through("conditional-put-ignored", async ({ store, name }) => {
      assertEquals(await store.putIfAbsent(name, "k", new TextEncoder().encode("one")), "written");
      assertEquals(await store.putIfAbsent(name, "k", new TextEncoder().encode("two")), "written");
      assertEquals(new TextDecoder().decode(await store.get(name, "k")), "two");
    }),
});

Deno.test({
  name: "provider proxy: checksum-refused, delete-needs-md5, delete-objects-refused",
  ...options,
  fn: async () => {
    await through("checksum-refused", async ({ proxy, name }) => {
      const put = await raw(proxy, "PUT", `/${name}/k`, { "x-amz-checksum-crc32": "AAAAAA==" });
      assertEquals(put.status, 501);
      assertStringIncludes(put.text, "x-amz-checksum-crc32");
      assertEquals(proxy.refused, 1);
    });
    await through("delete-needs-md5", async ({ proxy, name }) => {
      const post = await raw(proxy, "POST", `/${name}?delete`);
      assertEquals(post.status, 400);
      assertStringIncludes(post.text, "MissingContentMD5");
      const withMd5 = await raw(proxy, "POST", `/${name}?delete`, { "content-md5": "x" });
      assert(withMd5.status !== 400 || !withMd5.text.includes("MissingContentMD5"));
    });
    await through("delete-objects-refused", async ({ proxy, name }) => {
      const post = await raw(proxy, "POST", `/${name}?delete`, { "content-md5": "x" });
      assertEquals(post.status, 501);
      assertStringIncludes(post.text, "NotImplemented");
    });
  },
});

Deno.test({
  name: "deletes: a refused batch is tried once; the rest of the run deletes one at a time",
  ...options,
  fn: () =>
    through("delete-objects-refused", async ({ store, proxy, name }) => {
      const keys = ["a", "b", "c", "d", "e"];
      for (const key of keys) await store.put(name, key, new Uint8Array(1));
      store.deleteBatchKeys = 2;
      await store.deleteMany(name, keys.slice(0, 3));
      await store.deleteMany(name, keys.slice(3));
      assertEquals(proxy.refused, 1, "one batch tried");
      const left: string[] = [];
      for await (const o of store.list(name)) left.push(o.key);
      assertEquals(left, []);
      assertEquals(proxy.requests.filter((r) => r.method === "DELETE").length, 5);
    }),
});

Deno.test({
  name: "provider proxy: wrong-region answers as AWS does; virtual-only refuses path-style",
  ...options,
  fn: async () => {
    const name = "any-bucket";
    const regional = ProviderProxy.start("wrong-region");
    try {
      const signed = {
        authorization: "AWS4-HMAC-SHA256 Credential=k/20260101/us-east-1/s3/aws4_request, " +
          "SignedHeaders=host, Signature=0",
      };
      const put = await raw(regional, "PUT", `/${name}/k`, signed);
      assertEquals(put.status, 400);
      assertStringIncludes(put.text, "<Code>AuthorizationHeaderMalformed</Code>");
      assertStringIncludes(put.text, `expecting '${PROVIDER_REGION}'`);
      assertStringIncludes(put.text, `<Region>${PROVIDER_REGION}</Region>`);
      const head = await fetch(`${regional.endpoint}/${name}`, { method: "HEAD", headers: signed });
      assertEquals(head.status, 400);
      assertEquals(head.headers.get("x-amz-bucket-region"), PROVIDER_REGION);
    } finally {
      await regional.close();
    }
    const virtual = ProviderProxy.start("virtual-only");
    try {
      const path = await raw(virtual, "PUT", `/${name}/k`);
      assertEquals(path.status, 400);
      assertStringIncludes(path.text, "virtual-hosted");
      const head = await fetch(`${virtual.endpoint}/${name}`, { method: "HEAD" });
      assertEquals(head.status, 400);
      assertEquals(virtual.refused, 2);
    } finally {
      await virtual.close();
    }
  },
});
