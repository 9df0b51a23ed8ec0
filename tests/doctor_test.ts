/**
 * `spare doctor` through the CLI: against the test server itself, and through each
 * personality of the provider proxy, which it must name; wrong keys, a missing bucket, a
 * bucket of someone else's data; a wrong region, path-style refused and a private CA, each
 * named with the setting that fixes it; the probe keys removed and nothing else changed.
 */
import { ListObjectsV2Command, type ListObjectsV2CommandOutput } from "@aws-sdk/client-s3";
import type { ObjectStore } from "../lib/s3/client.ts";
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { type CliEnv, cliEnv, hasServer, spare, spareExpect } from "./cli.ts";
import {
  PERSONALITIES,
  type Personality,
  type PersonalityName,
  PROVIDER_REGION,
  ProviderProxy,
  type ProxiedRequest,
} from "./provider_proxy.ts";
import { hasOpenssl, makeTestPki } from "./tls.ts";
import { openBucket, TempDirs } from "./tree.ts";

const options = { ignore: !hasServer, sanitizeResources: false, sanitizeOps: false };

interface DoctorJson {
  command: string;
  endpoint: string;
  bucket: string;
  ok: boolean;
  checks: { name: string; status: string; message: string; result?: string }[];
  recommended: {
    region: string;
    addressing: string;
    lock?: string;
    deletes?: string;
    options: string[];
  };
}

/** `spare doctor --json`, expecting exit `code`. */
async function doctorJson(env: Record<string, string>, code: number): Promise<DoctorJson> {
  const result = await spareExpect(code, ["doctor", "--json"], env);
  const report = JSON.parse(result.stdout) as DoctorJson;
  assertEquals(report.command, "doctor");
  return report;
}

/** The check `name` of a report (fails the test when absent). */
function check(report: DoctorJson, name: string) {
  const found = report.checks.find((c) => c.name === name);
  assert(found, `no check ${name} in ${JSON.stringify(report.checks)}`);
  return found;
}

/** Every object of the bucket: key, ETag, size, last modified (one listing, up to 1,000). */
async function objects(store: ObjectStore, bucket: string): Promise<string[]> {
  const page = await store.sendOnce<ListObjectsV2CommandOutput>(
    new ListObjectsV2Command({ Bucket: bucket }),
  );
  return (page.Contents ?? []).map((o) =>
    `${o.Key} ${o.ETag} ${o.Size} ${o.LastModified?.toISOString()}`
  );
}

/** A bucket with a backup in it, locked by hand (so `.lock` exists), on `env`'s endpoint. */
async function backedUp(env: CliEnv, dirs: TempDirs): Promise<void> {
  const source = await dirs.make();
  await Deno.writeTextFile(`${source}/a.txt`, "alpha");
  await Deno.mkdir(`${source}/d`);
  await Deno.writeTextFile(`${source}/d/b.txt`, "beta".repeat(1000));
  await spareExpect(0, ["create", "--path", source], env);
  await spareExpect(0, ["lock"], env);
}

Deno.test({
  name: "doctor against the test server: every check ok, exit 0; the bucket's objects unchanged",
  ...options,
  fn: async () => {
    const env = cliEnv("doctor");
    const dirs = new TempDirs();
    const { store, close } = openBucket(env);
    try {
      await backedUp(env, dirs);
      const before = await objects(store, env.SPARE_BUCKET);
      assert(before.some((o) => o.startsWith(".lock ")), "the bucket is not locked");
      const text = await spareExpect(0, ["doctor"], env);
      assertEquals(text.stderr, "");
      for (
        const words of [
          "conditional writes: If-None-Match: * honoured",
          "batch deletes: DeleteObjects with Content-MD5 accepted",
          "listing: a new key is listed at once",
          "credentials: the keys are accepted",
          "holds a spare bucket",
          "it is locked now by",
          "spare can work with bucket",
        ]
      ) assertStringIncludes(text.stdout, words);
      // one line per check, each starting with its verdict
      for (const line of text.stdout.trim().split("\n").slice(0, -1)) {
        assert(/^(ok|WARN|FAIL|--) {2,}[a-z ]+: /.test(line), `not a check line: ${line}`);
      }
      const report = await doctorJson(env, 0);
      assertEquals(report.ok, true);
      assertEquals(report.bucket, env.SPARE_BUCKET);
      assertEquals(report.endpoint, env.SPARE_ENDPOINT);
      assertEquals(
        report.checks.map((c) => c.name),
        [
          "endpoint",
          "tls",
          "clock",
          "credentials",
          "region",
          "addressing",
          "bucket",
          "writes",
          "conditional writes",
          "listing",
          "checksum headers",
          "batch deletes",
          "cleanup",
        ],
      );
      assert(report.checks.every((c) => c.status === "ok"), JSON.stringify(report.checks));
      assertEquals(check(report, "conditional writes").result, "honoured");
      assertEquals(check(report, "batch deletes").result, "accepted");
      assertEquals(check(report, "listing").result, "immediate");
      assertEquals(check(report, "bucket").result, "spare");
      assertEquals(report.recommended, {
        region: "us-east-1",
        addressing: "path",
        lock: "conditional write",
        deletes: "batch with Content-MD5",
        options: [],
      });
      assertEquals(await objects(store, env.SPARE_BUCKET), before, "doctor changed the bucket");
      await spareExpect(0, ["unlock"], env);
      await spareExpect(0, ["verify"], env);
    } finally {
      close();
      await dirs.removeAll();
    }
  },
});

/** What doctor must say through each personality: the check and its result. */
const QUIRKS: Partial<Record<PersonalityName, { check: string; result: string; words: string }>> = {
  "conditional-put-refused": {
    check: "conditional writes",
    result: "refused",
    words: "If-None-Match: * refused (HTTP 501 NotImplemented",
  },
  "conditional-put-ignored": {
    check: "conditional writes",
    result: "ignored",
    words: "If-None-Match: * ignored",
  },
  "checksum-refused": {
    check: "checksum headers",
    result: "refused",
    words: "x-amz-checksum-* refused (HTTP 501 NotImplemented",
  },
  "delete-needs-md5": {
    check: "batch deletes",
    result: "needs Content-MD5",
    words: "without it: HTTP 400 MissingContentMD5",
  },
  "delete-objects-refused": {
    check: "batch deletes",
    result: "refused",
    words: "spare deletes one object at a time",
  },
};

for (const name of Object.keys(PERSONALITIES) as PersonalityName[]) {
  const quirk = QUIRKS[name];
  // wrong-region, virtual-only and https need settings of their own: tested below
  if (name !== "plain" && !quirk) continue;
  Deno.test({
    name: `doctor through the provider proxy's ${name}: ${
      quirk ? `names the quirk (${quirk.check} ${quirk.result})` : "nothing to name"
    }; only its own keys touched`,
    ...options,
    fn: async () => {
      const proxy = ProviderProxy.start(name);
      const direct = cliEnv("doctor");
      const env = { ...direct, SPARE_ENDPOINT: proxy.endpoint };
      const dirs = new TempDirs();
      const { store, close } = openBucket(direct);
      try {
        // the backup is made straight on the server (spare's own handling of the quirks is
        // tested elsewhere); doctor goes through the proxy
        await backedUp(direct, dirs);
        if (name === "conditional-put-ignored") {
          // locked again through the proxy: by a lock object of its own and `.lock`
          await spareExpect(0, ["unlock"], direct);
          await spareExpect(0, ["lock"], env);
        }
        const before = await objects(store, env.SPARE_BUCKET);
        const seen = proxy.requests.length;
        const report = await doctorJson(env, 0);
        assertEquals(report.ok, true, JSON.stringify(report.checks));
        assertStringIncludes(check(report, "bucket").message, "it is locked now by");
        if (name === "conditional-put-ignored") {
          assertStringIncludes(check(report, "bucket").message, "1 lock object(s) of runs");
        }
        if (quirk) {
          const found = check(report, quirk.check);
          assertEquals(found.result, quirk.result, found.message);
          assertStringIncludes(found.message, quirk.words);
        } else {
          assertEquals(check(report, "conditional writes").result, "honoured");
          assertEquals(check(report, "batch deletes").result, "accepted");
          assertEquals(check(report, "checksum headers").result, "accepted");
        }
        const expectedLock = quirk?.check === "conditional writes"
          ? "lock objects"
          : "conditional write";
        assertEquals(report.recommended.lock, expectedLock);
        const expectedDeletes = quirk?.result === "refused" && quirk.check === "batch deletes"
          ? "one at a time"
          : "batch with Content-MD5";
        assertEquals(report.recommended.deletes, expectedDeletes);
        // every write and delete was of a probe key of the doctor's own
        const writes = proxy.requests.slice(seen).filter((r) =>
          r.method === "PUT" || r.method === "DELETE"
        );
        assert(writes.length > 0, "no probe was written");
        for (const request of writes) {
          const key = decodeURIComponent(request.target.split("?")[0]).split("/")[2];
          assert(key?.startsWith(".spare-doctor-"), `doctor wrote ${request.target}`);
        }
        assertEquals(await objects(store, env.SPARE_BUCKET), before, "doctor changed the bucket");
      } finally {
        close();
        await proxy.close();
        await dirs.removeAll();
      }
    },
  });
}

Deno.test({
  name: "doctor with a wrong secret key: exit 1 naming the credentials, nothing written",
  ...options,
  fn: async () => {
    const env = cliEnv("doctor");
    await spareExpect(0, ["lock"], env); // the bucket exists
    const wrong = { ...env, SPARE_SECRET_KEY: "not-the-secret-key" };
    const text = await spareExpect(1, ["doctor"], wrong);
    assertStringIncludes(
      text.stdout,
      "FAIL  credentials: the access key or secret key was rejected",
    );
    assertStringIncludes(text.stdout, "spare cannot work with bucket");
    const report = await doctorJson(wrong, 1);
    assertEquals(report.ok, false);
    assertEquals(check(report, "credentials").status, "fail");
    assertEquals(check(report, "conditional writes").status, "skipped");
    await spareExpect(0, ["unlock"], env);
  },
});

Deno.test({
  name: "doctor with a missing bucket: it may be created; created for the probes, removed again",
  ...options,
  fn: async () => {
    const env = cliEnv("doctor");
    const { store, close } = openBucket(env);
    try {
      assert(!(await store.bucketExists(env.SPARE_BUCKET)));
      const report = await doctorJson(env, 0);
      assertEquals(check(report, "bucket").result, "may be created");
      assertEquals(check(report, "cleanup").result, "removed");
      assert(!(await store.bucketExists(env.SPARE_BUCKET)), "doctor left the bucket");
    } finally {
      close();
    }
  },
});

Deno.test({
  name: "doctor on a bucket of someone else's data: exit 1 (not a spare bucket), nothing written",
  ...options,
  fn: async () => {
    const env = cliEnv("doctor");
    const { store, close } = openBucket(env);
    try {
      await store.createBucket(env.SPARE_BUCKET);
      await store.put(env.SPARE_BUCKET, "photos/cat.jpg", new TextEncoder().encode("meow"));
      const before = await objects(store, env.SPARE_BUCKET);
      const result = await spare(["doctor"], env);
      assertEquals(result.code, 1, result.stdout + result.stderr);
      assertStringIncludes(result.stdout, "FAIL  bucket: bucket");
      assertStringIncludes(result.stdout, "not a spare bucket");
      const report = await doctorJson(env, 1);
      assertEquals(check(report, "bucket").result, "foreign");
      assertEquals(check(report, "writes").status, "skipped");
      assertEquals(await objects(store, env.SPARE_BUCKET), before, "doctor changed the bucket");
    } finally {
      close();
    }
  },
});

Deno.test({
  name: "doctor through wrong-region: exit 1 naming the --region to use; with it, exit 0",
  ...options,
  fn: async () => {
    const proxy = ProviderProxy.start("wrong-region");
    const direct = cliEnv("doctor");
    const env = { ...direct, SPARE_ENDPOINT: proxy.endpoint };
    const { store, close } = openBucket(direct);
    try {
      await store.createBucket(direct.SPARE_BUCKET); // made in its region
      const text = await spareExpect(1, ["doctor"], env);
      assertStringIncludes(
        text.stdout,
        `FAIL  region: the server expects region ${PROVIDER_REGION}, not us-east-1: ` +
          `use --region ${PROVIDER_REGION}`,
      );
      const report = await doctorJson(env, 1);
      assertEquals(check(report, "region").result, PROVIDER_REGION);
      assertEquals(report.recommended.options, [`--region ${PROVIDER_REGION}`]);
      assertEquals(report.recommended.region, PROVIDER_REGION);
      // the other checks went on in the region the server named
      assertEquals(check(report, "conditional writes").result, "honoured");
      const right = await doctorJson({ ...env, SPARE_REGION: PROVIDER_REGION }, 0);
      assertEquals(check(right, "region").status, "ok");
      assertEquals(right.recommended.options, []);
    } finally {
      close();
      await proxy.close();
    }
  },
});

Deno.test({
  name: "doctor through virtual-only: path-style refused, names --addressing virtual; with it, 0",
  ...options,
  fn: async () => {
    const proxy = ProviderProxy.start("virtual-only");
    const direct = cliEnv("doctor");
    // a host name: the bucket goes in front of it (bucket.s3.localhost)
    const env = { ...direct, SPARE_ENDPOINT: proxy.endpoint.replace("127.0.0.1", "s3.localhost") };
    const { store, close } = openBucket(direct);
    try {
      await store.createBucket(direct.SPARE_BUCKET);
      const text = await spareExpect(1, ["doctor"], env);
      assertStringIncludes(text.stdout, "FAIL  addressing: path-style refused");
      assertStringIncludes(text.stdout, "virtual-hosted accepted: use --addressing virtual");
      const report = await doctorJson(env, 1);
      assertEquals(check(report, "addressing").result, "virtual");
      assertEquals(report.recommended.options, ["--addressing virtual"]);
      assertEquals(report.recommended.addressing, "virtual");
      assertEquals(check(report, "conditional writes").result, "honoured");
      const right = await doctorJson({ ...env, SPARE_ADDRESSING: "virtual" }, 0);
      assertEquals(check(right, "addressing").status, "ok");
      assertStringIncludes(check(right, "addressing").message, "virtual-hosted accepted (in use)");
    } finally {
      close();
      await proxy.close();
    }
  },
});

Deno.test({
  name: "doctor over HTTPS with the test's CA: without it exit 1 naming --ca-cert; with it, 0",
  ...options,
  ignore: !hasServer || !hasOpenssl(),
  fn: async () => {
    const certs = await makeTestPki();
    const proxy = ProviderProxy.start("https", { tls: { cert: certs.cert, key: certs.key } });
    const env = { ...cliEnv("doctor"), SPARE_ENDPOINT: proxy.endpoint };
    try {
      const text = await spareExpect(1, ["doctor"], env);
      assertStringIncludes(text.stdout, "FAIL  tls: the server's certificate is not trusted");
      assertStringIncludes(text.stdout, "--ca-cert FILE");
      const report = await doctorJson(env, 1);
      assertEquals(check(report, "tls").result, "untrusted");
      assertEquals(report.recommended.options, ["--ca-cert FILE"]);
      assertEquals(check(report, "endpoint").status, "ok");
      const right = await doctorJson({ ...env, SPARE_CA_CERT: certs.caFile }, 0);
      assertEquals(check(right, "tls").result, "trusted");
      assertEquals(check(right, "bucket").result, "may be created");
    } finally {
      await proxy.close();
    }
  },
});

/** A ListObjectsV2 of the doctor's probe keys: the listing a lagging server would answer. */
function isProbeListing(request: ProxiedRequest): boolean {
  return request.method === "GET" && /[?&]list-type=2/.test(request.target) &&
    /[?&]prefix=(\.|%2E)spare-doctor-/i.test(request.target);
}

/** An empty ListObjectsV2 answer. */
function emptyListing(): Uint8Array {
  const body = `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult ` +
    `xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><KeyCount>0</KeyCount>` +
    `<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`;
  return new TextEncoder().encode(
    `HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
}

/**
 * Personalities of this test's own, added to the proxy's table: a listing that shows a new
 * key only from the second look (alone, and with conditional PUTs ignored), and one that
 * never shows it.
 */
function addListingPersonalities(): void {
  const ignored = PERSONALITIES["conditional-put-ignored"] as Personality;
  const laggingOnce = (passOn?: Personality): Personality => {
    const seen = new Set<string>();
    return {
      description: "a new key missing from the first listing",
      request: (request, context) => {
        if (isProbeListing(request) && !seen.has(request.target)) {
          seen.add(request.target);
          return { respond: emptyListing() };
        }
        return passOn?.request?.(request, context);
      },
    };
  };
  const table = PERSONALITIES as Record<string, Personality>;
  table["doctor-listing-lags"] = laggingOnce();
  table["doctor-listing-lags-put-ignored"] = laggingOnce(ignored);
  table["doctor-listing-never"] = {
    description: "a new key never listed",
    request: (request) => isProbeListing(request) ? { respond: emptyListing() } : undefined,
  };
}

Deno.test({
  name: "doctor with a listing that lags: a warning where conditional writes are honoured, " +
    "a failure where they are ignored; never listed: a failure",
  ...options,
  fn: async () => {
    addListingPersonalities();
    const cases: [string, number, string, RegExp][] = [
      ["doctor-listing-lags", 0, "warn", /^a new key showed in a listing only after \d+ ms/],
      [
        "doctor-listing-lags-put-ignored",
        1,
        "fail",
        /with conditional writes ignored, spare's lock needs a new key listed at once/,
      ],
      ["doctor-listing-never", 1, "fail", /^a new key was not listed within 5 s/],
    ];
    for (const [name, code, status, words] of cases) {
      const proxy = ProviderProxy.start(name as PersonalityName);
      try {
        const report = await doctorJson(
          { ...cliEnv("doctor"), SPARE_ENDPOINT: proxy.endpoint },
          code,
        );
        const listing = check(report, "listing");
        assertEquals(listing.status, status, `${name}: ${listing.message}`);
        assert(words.test(listing.message), `${name}: ${listing.message}`);
        assertEquals(check(report, "cleanup").result, "removed");
      } finally {
        await proxy.close();
      }
    }
  },
});
