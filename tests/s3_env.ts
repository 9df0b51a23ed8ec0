/**
 * The S3 server that `deno task test` (scripts/test.ts) started for this test run.
 *
 * Integration tests skip themselves when it is absent:
 * `Deno.test({ name, ignore: !testS3Env(), fn })`.
 */

export interface TestS3Env {
  endpoint: string;
  accessKey: string;
  secretKey: string;
}

/** The server from SPARE_TEST_ENDPOINT / SPARE_TEST_ACCESS_KEY / SPARE_TEST_SECRET_KEY. */
export function testS3Env(): TestS3Env | undefined {
  const get = (name: string) => {
    try {
      return Deno.env.get(name) || undefined;
    } catch {
      return undefined; // no --allow-env: no server
    }
  };
  const endpoint = get("SPARE_TEST_ENDPOINT");
  const accessKey = get("SPARE_TEST_ACCESS_KEY");
  const secretKey = get("SPARE_TEST_SECRET_KEY");
  if (!endpoint || !accessKey || !secretKey) return undefined;
  return { endpoint, accessKey, secretKey };
}

/**
 * A bucket name not used before in this run: `<prefix>-<16 hex digits>`, lowercase, 3–63
 * characters, letters, digits and hyphens only (a valid S3 bucket name).
 */
export function freshBucketName(prefix = "t"): string {
  const clean = prefix.toLowerCase().replace(/[^a-z0-9-]+/g, "-").slice(0, 40)
    .replace(/^-+|-+$/g, "") || "t";
  const hex = Array.from(
    crypto.getRandomValues(new Uint8Array(8)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  return `${clean}-${hex}`;
}
