/**
 * S3 GET over Deno's `fetch` with AWS Signature Version 4 (path-style, unsigned payload):
 * a yardstick for `deno task bench`, which GETs the same objects through the AWS SDK and
 * through this, to show what the SDK's request pipeline costs per request. spare does not
 * use it.
 */
import { createHash, createHmac } from "node:crypto";

/** Where and as whom to GET. */
export interface FetchGetConfig {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region?: string;
}

/** RFC 3986 encoding of one path segment, as SigV4 canonicalizes it. */
function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(
    /[!'()*]/g,
    (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase(),
  );
}

function hmac(key: string | Uint8Array, data: string): Uint8Array {
  return createHmac("sha256", key).update(data).digest();
}

/** GETs objects with one signed `fetch` each. */
export class FetchGetter {
  private readonly region: string;
  private readonly host: string;
  private signingDate = "";
  private signingKey: Uint8Array = new Uint8Array();

  constructor(private readonly config: FetchGetConfig) {
    this.region = config.region ?? "us-east-1";
    this.host = new URL(config.endpoint).host;
  }

  /** The object's bytes; throws on any status but 200. */
  async get(bucket: string, key: string, signal?: AbortSignal): Promise<Uint8Array> {
    const path = "/" + [bucket, ...key.split("/")].map(encodeSegment).join("/");
    const response = await fetch(this.config.endpoint + path, {
      headers: this.sign("GET", path),
      signal,
    });
    if (response.status !== 200) {
      await response.body?.cancel();
      throw new Error(`GET ${path}: HTTP ${response.status}`);
    }
    return new Uint8Array(await response.arrayBuffer());
  }

  /** The headers of a SigV4-signed request without a query string or body. */
  private sign(method: string, path: string): Record<string, string> {
    const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
    const date = stamp.slice(0, 8);
    if (date !== this.signingDate) {
      const dateKey = hmac("AWS4" + this.config.secretKey, date);
      this.signingKey = hmac(hmac(hmac(dateKey, this.region), "s3"), "aws4_request");
      this.signingDate = date;
    }
    const payload = "UNSIGNED-PAYLOAD";
    const signed: [string, string][] = [
      ["host", this.host],
      ["x-amz-content-sha256", payload],
      ["x-amz-date", stamp],
    ];
    const names = signed.map(([name]) => name).join(";");
    const canonical = [
      method,
      path,
      "",
      ...signed.map(([name, value]) => `${name}:${value}`),
      "",
      names,
      payload,
    ].join("\n");
    const scope = `${date}/${this.region}/s3/aws4_request`;
    const toSign = [
      "AWS4-HMAC-SHA256",
      stamp,
      scope,
      createHash("sha256").update(canonical).digest("hex"),
    ].join("\n");
    const signature = createHmac("sha256", this.signingKey).update(toSign).digest("hex");
    return {
      "x-amz-content-sha256": payload,
      "x-amz-date": stamp,
      authorization: `AWS4-HMAC-SHA256 Credential=${this.config.accessKey}/${scope}, ` +
        `SignedHeaders=${names}, Signature=${signature}`,
    };
  }
}
