/** Pure functions of HTTPS and proxies: NO_PROXY matching, proxy variables, PEM parsing, error lines. */
import { assert, assertEquals, assertStringIncludes } from "./assert.ts";
import { bypassesProxy, parseProxy, proxyFor, proxySettings } from "../lib/s3/proxy.ts";
import { pemCertificates, systemCertificates } from "../lib/s3/trust.ts";
import { regionExpected, tlsProblem } from "../lib/s3/errors.ts";
import { defaultAddressing } from "../lib/s3/config.ts";
import { isLocalhostName, openTunnel } from "../lib/s3/agents.ts";

Deno.test("NO_PROXY: names match themselves and every host under them, with or without a dot", () => {
  for (const entry of ["example.com", ".example.com", "*.example.com"]) {
    assert(bypassesProxy([entry], "s3.example.com", 443), entry);
    assert(bypassesProxy([entry], "EXAMPLE.com", 443), entry);
    assert(!bypassesProxy([entry], "badexample.com", 443), entry);
    assert(!bypassesProxy([entry], "example.com.org", 443), entry);
  }
  assert(bypassesProxy(["*"], "anything", 1));
  assert(!bypassesProxy([], "anything", 1));
});

Deno.test("NO_PROXY: ports, IP addresses and IPv4 ranges", () => {
  assert(bypassesProxy(["example.com:9000"], "s3.example.com", 9000));
  assert(!bypassesProxy(["example.com:9000"], "s3.example.com", 443));
  assert(bypassesProxy(["10.0.0.0/8"], "10.1.2.3", 443));
  assert(!bypassesProxy(["10.0.0.0/8"], "11.1.2.3", 443));
  assert(bypassesProxy(["192.168.1.5"], "192.168.1.5", 80));
  assert(bypassesProxy(["::1"], "[::1]", 80));
  assert(bypassesProxy(["[::1]:80"], "::1", 80));
});

Deno.test("proxy variables: lowercase first, https for https://, http for http://, credentials", () => {
  const env: Record<string, string> = {
    HTTPS_PROXY: "http://upper:3128",
    https_proxy: "lower:8080",
    HTTP_PROXY: "http://u%40x:p%20w@plain:3129",
    NO_PROXY: "internal.example, .corp",
  };
  const settings = proxySettings((name) => env[name]);
  assertEquals(settings.https?.host, "lower");
  assertEquals(settings.https?.port, 8080);
  assertEquals(settings.https?.variable, "https_proxy");
  assertEquals(settings.http?.authorization, `Basic ${btoa("u@x:p w")}`);
  assertEquals(settings.http?.display, "http://plain:3129");
  assertEquals(proxyFor(settings, new URL("https://s3.amazonaws.com"))?.host, "lower");
  assertEquals(proxyFor(settings, new URL("http://minio:9000"))?.host, "plain");
  assertEquals(proxyFor(settings, new URL("https://s3.corp")), undefined);
  assertEquals(proxyFor(proxySettings(() => undefined), new URL("https://x")), undefined);
  let refused = "";
  try {
    parseProxy("HTTPS_PROXY", "socks5://h:1");
  } catch (err) {
    refused = String(err);
  }
  assertStringIncludes(refused, "only http://");
});

Deno.test("PEM bundles: certificates found, normalized and taken once; SSL_CERT_FILE and SSL_CERT_DIR", async () => {
  const body = "MIIB" + "A".repeat(100);
  const pem = `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
  const crlf = pem.replaceAll("\n", "\r\n");
  assertEquals(pemCertificates(`junk\n${pem}more\n${crlf}`).length, 2);
  assertEquals(new Set(pemCertificates(pem + crlf)).size, 1);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bundle.crt`, pem);
    await Deno.mkdir(`${dir}/certs`);
    await Deno.writeTextFile(`${dir}/certs/one.pem`, crlf);
    const env: Record<string, string> = {
      SSL_CERT_FILE: `${dir}/bundle.crt`,
      SSL_CERT_DIR: `${dir}/certs`,
    };
    const found = systemCertificates((name) => env[name]);
    assertEquals(found.certificates.length, 1);
    assertEquals(found.sources, [`${dir}/bundle.crt`, `${dir}/certs`]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TLS and region errors say what to set", () => {
  const untrusted = Object.assign(new Error("unable to verify the first certificate"), {
    code: "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  });
  assertStringIncludes(tlsProblem(untrusted, "https://s3.example")!, "--ca-cert");
  assertStringIncludes(tlsProblem(untrusted, "https://s3.example")!, "https://s3.example");
  assertEquals(tlsProblem(new Error("connection refused")), undefined);
  const expiredToken = Object.assign(new Error("The provided token has expired."), {
    name: "ExpiredToken",
    $metadata: { httpStatusCode: 400 },
  });
  assertEquals(tlsProblem(expiredToken), undefined);
  const malformed = Object.assign(
    new Error(
      "The authorization header is malformed; the region 'us-east-1' is wrong; expecting 'eu-west-1'",
    ),
    {
      name: "AuthorizationHeaderMalformed",
      $metadata: { httpStatusCode: 400 },
    },
  );
  assertEquals(regionExpected(malformed), "eu-west-1");
  const redirect = Object.assign(new Error("301"), {
    name: "301",
    $metadata: { httpStatusCode: 301 },
    $response: { headers: { "x-amz-bucket-region": "ap-south-1" } },
  });
  assertEquals(regionExpected(redirect), "ap-south-1");
  assertEquals(regionExpected(Object.assign(new Error("x"), { name: "AccessDenied" })), undefined);
});

Deno.test("addressing: virtual-hosted for AWS endpoints, path-style elsewhere; localhost names", () => {
  assertEquals(defaultAddressing("s3.eu-west-1.amazonaws.com"), "virtual");
  assertEquals(defaultAddressing("https://s3.amazonaws.com/"), "virtual");
  assertEquals(defaultAddressing("https://minio.example:9000"), "path");
  assertEquals(defaultAddressing("https://amazonaws.com.evil.example"), "path");
  assert(isLocalhostName("bucket.localhost"));
  assert(isLocalhostName("LOCALHOST."));
  assert(!isLocalhostName("localhost.example"));
});

Deno.test({
  name: "CONNECT: a proxy that never answers, and one that refuses, are one line naming it",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    const held: Deno.Conn[] = [];
    let refuse = false;
    (async () => {
      for await (const conn of listener) {
        held.push(conn);
        if (refuse) {
          await conn.write(new TextEncoder().encode("HTTP/1.1 403 Forbidden\r\n\r\n"));
        }
      }
    })().catch(() => {});
    const proxy = parseProxy("HTTPS_PROXY", `127.0.0.1:${port}`);
    const failure = async () => {
      try {
        await openTunnel(proxy, "s3.example", 443, 300);
        return "";
      } catch (err) {
        return String(err);
      }
    };
    assertStringIncludes(await failure(), "did not answer CONNECT within 0.3 s");
    refuse = true;
    const refused = await failure();
    assertStringIncludes(refused, "refused the tunnel to s3.example:443 (HTTP/1.1 403 Forbidden)");
    assertStringIncludes(refused, `http://127.0.0.1:${port} (HTTPS_PROXY)`);
    listener.close();
    for (const conn of held) conn.close();
  },
});
