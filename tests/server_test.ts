/** The test S3 server (started by scripts/test.ts) takes a bucket and an object back. */
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { assert, assertEquals } from "./assert.ts";
import { freshBucketName, testS3Env } from "./s3_env.ts";

const env = testS3Env();

Deno.test({
  name: "test S3 server: create a bucket, put and get an object",
  ignore: !env,
  // The SDK keeps pooled connections and timers beyond the test.
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const client = new S3Client({
      endpoint: env!.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      requestChecksumCalculation: "WHEN_REQUIRED",
      credentials: { accessKeyId: env!.accessKey, secretAccessKey: env!.secretKey },
    });
    try {
      const Bucket = freshBucketName("server-test");
      assert(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(Bucket), Bucket);
      await client.send(new CreateBucketCommand({ Bucket }));
      const body = new TextEncoder().encode("hello, spare\n");
      await client.send(new PutObjectCommand({ Bucket, Key: "dir/hello.txt", Body: body }));
      const got = await client.send(new GetObjectCommand({ Bucket, Key: "dir/hello.txt" }));
      assertEquals(await got.Body!.transformToByteArray(), body);
      await client.send(new DeleteObjectCommand({ Bucket, Key: "dir/hello.txt" }));
      await client.send(new DeleteBucketCommand({ Bucket }));
    } finally {
      client.destroy();
    }
  },
});

Deno.test("freshBucketName gives distinct valid bucket names", () => {
  const names = new Set<string>();
  for (const prefix of [undefined, "t", "Spare Test_1", "--x--", "", "a".repeat(80)]) {
    const name = freshBucketName(prefix);
    assert(/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(name), name);
    names.add(name);
  }
  assertEquals(names.size, 6);
});
