/** Where and how to reach the S3 server: endpoint, keys, region, TLS trust, proxies, addressing. */
import type { ProxySettings } from "./proxy.ts";

/** Where and how to reach the S3 server. */
export interface S3Config {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  region?: string;
  /** Milliseconds before a request without progress is abandoned (and retried). */
  requestTimeoutMs?: number;
  /** Attempts per request, the first included. */
  maxAttempts?: number;
  /** PEM CAs an https:// endpoint must chain to (lib/s3/trust.ts); required for https://. */
  ca?: string[];
  /** Proxies from the environment (lib/s3/proxy.ts). */
  proxies?: ProxySettings;
  /** Bucket in the path or in the host name; by default `defaultAddressing(endpoint)`. */
  addressing?: Addressing;
}

/** Where the bucket goes in a request's URL. */
export type Addressing = "path" | "virtual";

/** Virtual-hosted for AWS endpoints (*.amazonaws.com), path-style for every other server. */
export function defaultAddressing(endpoint: string): Addressing {
  const host = new URL(endpointUrl(endpoint)).hostname.toLowerCase().replace(/\.$/, "");
  return host === "amazonaws.com" || host.endsWith(".amazonaws.com") ? "virtual" : "path";
}

/** An endpoint without a scheme means https://. */
export function endpointUrl(endpoint: string): string {
  const trimmed = endpoint.trim().replace(/\/+$/, "");
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`;
}
