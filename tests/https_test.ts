/**
 * Issue 27: HTTPS, proxies, addressing and region, through the CLI with the spare task's own
 * permission flags, against the test server behind the provider-personality proxy (TLS with
 * the test's own CA, a wrong region refused as AWS refuses it, path-style refused) and
 * behind a forward proxy on 127.0.0.1.
 */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { type CliEnv, cliEnv, hasServer, spare, spareExpect } from "./cli.ts";
import { ConnectProxy } from "./connect_proxy.ts";
import { PROVIDER_REGION, ProviderProxy } from "./provider_proxy.ts";
import { hasOpenssl, makeTestPki, type TestPki } from "./tls.ts";
import { describeTree, openBucket, pseudoRandom, TempDirs } from "./tree.ts";

const withOpenssl = hasOpenssl();
const options = { ignore: !hasServer, sanitizeResources: false, sanitizeOps: false };
const tlsOptions = { ...options, ignore: !hasServer || !withOpenssl };

let pki: TestPki | undefined;
/** The test's CA and server certificate, made once per run. */
async function testPki(): Promise<TestPki> {
  pki ??= await makeTestPki();
  return pki;
}

async function makeSource(dirs: TempDirs): Promise<string> {
  const src = await dirs.make();
  await Deno.writeFile(`${src}/big.bin`, pseudoRandom(2 * 1024 * 1024 + 7, 27));
  await Deno.mkdir(`${src}/docs`);
  for (let i = 0; i < 3; i++) {
    await Deno.writeTextFile(`${src}/docs/f${i}.txt`, `file ${i}\n`.repeat(40));
  }
  return src;
}

/**
 * What each working personality must allow: `create` twice (the second prunes the first
 * snapshot), `verify`, `restore`, and the restored tree equal to the source.
 */
async function fullCycle(env: Record<string, string>, args: string[] = []): Promise<void> {
  const dirs = new TempDirs();
  try {
    const src = await makeSource(dirs);
    await spareExpect(0, ["create", "--path", src, ...args], env);
    await Deno.writeTextFile(`${src}/docs/f1.txt`, "changed\n");
    await spareExpect(0, ["create", "--path", src, ...args], env);
    const snapshots = await spareExpect(0, ["snapshots", "--json", ...args], env);
    assertEquals(JSON.parse(snapshots.stdout).length, 1, "the second create pruned the first");
    await spareExpect(0, ["verify", ...args], env);
    const target = `${await dirs.make()}/restored`;
    await spareExpect(0, ["restore", "--path", target, ...args], env);
    assertEquals(await describeTree(target), await describeTree(src));
  } finally {
    await dirs.removeAll();
  }
}

/** Fails unless the run failed with exactly one line on stderr; returns that line. */
async function oneLineFailure(args: string[], env: Record<string, string>): Promise<string> {
  const result = await spare(args, env);
  assertEquals(result.code, 1, `exit code; stderr: ${result.stderr}`);
  const lines = result.stderr.trim().split("\n");
  assertEquals(lines.length, 1, `one line, got: ${result.stderr}`);
  return lines[0];
}

/** Runs `fn` with an HTTPS personality proxy (the test's CA) in front of the test server. */
async function overHttps(
  fn: (proxy: ProviderProxy, env: CliEnv, pki: TestPki) => Promise<void>,
): Promise<void> {
  const certs = await testPki();
  const proxy = ProviderProxy.start("https", { tls: { cert: certs.cert, key: certs.key } });
  try {
    await fn(proxy, { ...cliEnv("https"), SPARE_ENDPOINT: proxy.endpoint }, certs);
  } finally {
    await proxy.close();
  }
}

/** `https://localhost:PORT` for a proxy listening on https://127.0.0.1:PORT. */
function byName(endpoint: string): string {
  return endpoint.replace("127.0.0.1", "localhost");
}

Deno.test({
  name:
    "https: the test's CA given by --ca-cert (and SPARE_CA_CERT): create twice, verify, restore",
  ...tlsOptions,
  fn: () =>
    overHttps(async (proxy, env, certs) => {
      assert(env.SPARE_ENDPOINT.startsWith("https://127.0.0.1:"));
      await fullCycle(env, ["--ca-cert", certs.caFile]);
      // NODE_EXTRA_CA_CERTS set (as on many machines) made node:https ask for --allow-sys.
      await spareExpect(0, ["verify"], {
        ...env,
        SPARE_CA_CERT: certs.caFile,
        NODE_EXTRA_CA_CERTS: certs.otherCaFile,
      });
      assert(proxy.requests.length > 0);
    }),
});

Deno.test({
  name: "https: a CA installed in the system's store (SSL_CERT_FILE) is trusted by host name",
  ...tlsOptions,
  fn: () =>
    overHttps(async (_proxy, env, certs) => {
      const dirs = new TempDirs();
      try {
        const store = `${await dirs.make()}/ca-bundle.crt`;
        const real = await Deno.readTextFile("/etc/ssl/certs/ca-certificates.crt").catch(() => "");
        await Deno.writeTextFile(store, real + certs.caPem);
        const emptyDir = await dirs.make();
        await fullCycle({
          ...env,
          SPARE_ENDPOINT: byName(env.SPARE_ENDPOINT),
          SSL_CERT_FILE: store,
          SSL_CERT_DIR: emptyDir,
        });
        // The same store as a directory of single files (SSL_CERT_DIR).
        const certDir = await dirs.make();
        await Deno.writeTextFile(`${certDir}/spare-test-ca.pem`, certs.caPem);
        await spareExpect(0, ["snapshots"], {
          ...env,
          SSL_CERT_FILE: `${emptyDir}/none.crt`,
          SSL_CERT_DIR: `${emptyDir}:${certDir}`,
        });
        // No store at all: Deno's own roots, to which DENO_CERT adds.
        const noStore = { ...env, SSL_CERT_FILE: `${emptyDir}/none`, SSL_CERT_DIR: emptyDir };
        await spareExpect(0, ["snapshots"], { ...noStore, DENO_CERT: certs.caFile });
        // ... which node:https cannot read while NODE_EXTRA_CA_CERTS is set: one line.
        const line = await oneLineFailure(["snapshots"], {
          ...noStore,
          NODE_EXTRA_CA_CERTS: certs.caFile,
        });
        assertStringIncludes(line, "--ca-cert");
      } finally {
        await dirs.removeAll();
      }
    }),
});

Deno.test({
  name: "https: a certificate of an unknown CA is one line naming the endpoint and --ca-cert",
  ...tlsOptions,
  fn: () =>
    overHttps(async (_proxy, env, certs) => {
      const withOther = await oneLineFailure(
        ["snapshots", "--ca-cert", certs.otherCaFile],
        env,
      );
      assertStringIncludes(withOther, env.SPARE_ENDPOINT);
      assertStringIncludes(withOther, "--ca-cert");
      assertStringIncludes(withOther, "not signed by a trusted CA");
      // Without any setting: the system's store alone does not hold the test's CA.
      const bare = await oneLineFailure(["snapshots"], env);
      assertStringIncludes(bare, "--ca-cert");
      // Plain HTTP given https://: said so.
      const plain = await oneLineFailure(["snapshots"], {
        ...env,
        SPARE_ENDPOINT: cliEnv().SPARE_ENDPOINT.replace("http://", "https://"),
      });
      assertStringIncludes(plain, "http://");
    }),
});

Deno.test({
  name: "https through a CONNECT proxy (HTTPS_PROXY); NO_PROXY bypasses it",
  ...tlsOptions,
  fn: () =>
    overHttps(async (_proxy, env, certs) => {
      const forward = ConnectProxy.start();
      try {
        const viaProxy = {
          ...env,
          SPARE_ENDPOINT: byName(env.SPARE_ENDPOINT),
          HTTPS_PROXY: forward.url,
          SPARE_CA_CERT: certs.caFile,
        };
        await fullCycle(viaProxy);
        const port = new URL(env.SPARE_ENDPOINT).port;
        assert(forward.tunnels.length > 0, "no CONNECT tunnel was opened");
        assert(forward.tunnels.every((t) => t === `localhost:${port}`), forward.tunnels.join());
        const tunnels = forward.tunnels.length;
        for (const noProxy of ["localhost", `.localhost:${port}`, "*", "127.0.0.0/8,localhost"]) {
          await spareExpect(0, ["snapshots"], { ...viaProxy, no_proxy: noProxy });
        }
        assertEquals(forward.tunnels.length, tunnels, "NO_PROXY was not honoured");
        await spareExpect(0, ["snapshots"], { ...viaProxy, NO_PROXY: "example.com:1" });
        assert(forward.tunnels.length > tunnels, "a NO_PROXY entry that does not match bypassed");
      } finally {
        await forward.close();
      }
    }),
});

Deno.test({
  name:
    "http through a proxy (HTTP_PROXY, absolute-URI requests); a proxy that is down is one line",
  ...options,
  fn: async () => {
    const forward = ConnectProxy.start("user:secret word");
    try {
      const env = cliEnv("httpproxy");
      const refused = await oneLineFailure(["snapshots"], { ...env, HTTP_PROXY: forward.url });
      assertStringIncludes(refused, "407");
      const withCredentials = forward.url.replace("://", "://user:secret%20word@");
      await fullCycle({ ...env, http_proxy: withCredentials });
      assert(forward.forwarded.length > 0, "nothing went through the proxy");
      assert(forward.forwarded.every((line) => line.includes(" http://127.0.0.1:")));
      const down = forward.url.replace(/:\d+$/, ":1");
      const line = await oneLineFailure(["snapshots"], {
        ...env,
        SPARE_ENDPOINT: "https://localhost:9",
        HTTPS_PROXY: down,
      });
      assertStringIncludes(line, "HTTPS_PROXY");
      assertStringIncludes(line, down);
    } finally {
      await forward.close();
    }
  },
});

Deno.test({
  name:
    "--addressing virtual over HTTPS against a virtual-hosted-only server (bucket.s3.localhost)",
  ...tlsOptions,
  fn: async () => {
    const certs = await testPki();
    const proxy = ProviderProxy.start("virtual-only", {
      tls: { cert: certs.cert, key: certs.key },
    });
    try {
      const env = {
        ...cliEnv("virtual"),
        SPARE_ENDPOINT: proxy.endpoint.replace("127.0.0.1", "s3.localhost"),
        SPARE_CA_CERT: certs.caFile,
      };
      // Path-style (the default for this endpoint) is refused; a HEAD's 400 has no body to say why.
      await oneLineFailure(["snapshots"], env);
      await fullCycle(env, ["--addressing", "virtual"]);
      await spareExpect(0, ["verify"], { ...env, SPARE_ADDRESSING: "virtual" });
      const hosts = new Set(proxy.requests.map((r) => r.headers.get("host")));
      const virtualHost = `${env.SPARE_BUCKET}.${new URL(env.SPARE_ENDPOINT).host}`;
      assert(hosts.has(virtualHost), [...hosts].join());
      const usage = await spare(["snapshots", "--addressing", "sideways"], env);
      assertEquals(usage.code, 2);
    } finally {
      await proxy.close();
    }
  },
});

Deno.test({
  name: "a wrong region is one line saying which --region to use; with it, everything works",
  ...options,
  fn: async () => {
    const proxy = ProviderProxy.start("wrong-region");
    try {
      const direct = cliEnv("region");
      const env = { ...direct, SPARE_ENDPOINT: proxy.endpoint };
      // The bucket exists (made in its region, as an operator would have it on AWS).
      const { store, close } = openBucket(direct);
      await store.createBucket(direct.SPARE_BUCKET);
      close();
      for (const command of [["snapshots"], ["lock"]]) {
        const line = await oneLineFailure(command, env);
        assertStringIncludes(line, `--region ${PROVIDER_REGION}`);
      }
      const other = await oneLineFailure(["snapshots", "--region", "ap-south-1"], env);
      assertStringIncludes(other, `--region ${PROVIDER_REGION}`);
      assertStringIncludes(other, "not ap-south-1");
      await fullCycle(env, ["--region", PROVIDER_REGION]);
    } finally {
      await proxy.close();
    }
  },
});
