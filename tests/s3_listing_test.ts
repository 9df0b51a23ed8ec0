import { assertEquals } from "./assert.ts";
import { parseListingXml } from "../lib/s3/listing.ts";

const encoder = new TextEncoder();

/** A ListObjectsV2 answer as Ceph RGW writes it (one line, an Owner per object). */
function answer(contents: string[], tail: string, head = ""): Uint8Array {
  const objects = contents.map((key, i) =>
    `<Contents><Key>${key}</Key><LastModified>2026-12-02T03:00:00.000Z</LastModified>` +
    `<ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag><Size>${100 + i}</Size>` +
    `<StorageClass>STANDARD</StorageClass><Owner><ID>spare</ID><DisplayName>spare &amp; co</DisplayName></Owner></Contents>`
  ).join("");
  return encoder.encode(
    `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
      `<Name>b</Name><Prefix></Prefix>${head}<MaxKeys>1000</MaxKeys>${tail}${objects}</ListBucketResult>\n`,
  );
}

Deno.test("a listing's keys, sizes and continuation token are read as the SDK reads them", () => {
  const keys = ["0a/000000001-ff", ".lock", "snapshot_01J/000000001-aa"];
  assertEquals(
    parseListingXml(answer(keys, "<IsTruncated>false</IsTruncated>", "<KeyCount>3</KeyCount>")),
    { objects: keys.map((key, i) => ({ key, size: 100 + i })) },
  );
  assertEquals(
    parseListingXml(
      answer(
        ["a"],
        "<IsTruncated>true</IsTruncated><NextContinuationToken>1/x&amp;y=</NextContinuationToken>",
      ),
    ),
    { objects: [{ key: "a", size: 100 }], next: "1/x&y=" },
  );
  assertEquals(parseListingXml(answer([], "<IsTruncated>false</IsTruncated>")), { objects: [] });
  const large = new TextDecoder().decode(answer(["a"], "<IsTruncated>false</IsTruncated>"))
    .replace("<Size>100</Size>", "<Size>999999999999999</Size>");
  assertEquals(parseListingXml(encoder.encode(large)), {
    objects: [{ key: "a", size: 999_999_999_999_999 }],
  });
});

Deno.test("entity and character references in keys are decoded", () => {
  const page = parseListingXml(
    answer(
      ["a&amp;b&lt;c&gt;&quot;&apos;", "caf&#233;&#x1F600;", "plain ü"],
      "<IsTruncated>false</IsTruncated>",
    ),
  );
  assertEquals(page?.objects.map((o) => o.key), ["a&b<c>\"'", "café😀", "plain ü"]);
});

Deno.test("anything but a complete, plain listing is left to the SDK's parser", () => {
  const good = new TextDecoder().decode(answer(["a", "b"], "<IsTruncated>false</IsTruncated>"));
  const cases: [string, string][] = [
    ["cut short", good.slice(0, good.length - 40)],
    ["cut inside an object", good.slice(0, good.indexOf("</Contents>") + 5)],
    ["no IsTruncated", good.replace("<IsTruncated>false</IsTruncated>", "")],
    ["truncated without a token", good.replace(">false<", ">true<")],
    ["a size that is no number", good.replace("<Size>100</Size>", "<Size>1e3</Size>")],
    ["a size of 16 digits", good.replace("<Size>100</Size>", "<Size>1000000000000000</Size>")],
    ["an empty size", good.replace("<Size>100</Size>", "<Size></Size>")],
    ["a signed size", good.replace("<Size>100</Size>", "<Size>+100</Size>")],
    ["an object without a size", good.replace("<Size>100</Size>", "")],
    ["an object without a key", good.replace("<Key>a</Key>", "")],
    ["a key that ends beyond its object", good.replace("<Key>a</Key>", "<Key>a")],
    ["a Contents with attributes", good.replace("<Contents>", '<Contents a="1">')],
    ["a KeyCount that disagrees", good.replace("<MaxKeys>", "<KeyCount>3</KeyCount><MaxKeys>")],
    ["a malformed reference", good.replace("<Key>a</Key>", "<Key>a&bogus;</Key>")],
    ["an unterminated reference", good.replace("<Key>a</Key>", "<Key>a&amp</Key>")],
    ["CDATA", good.replace("<Key>a</Key>", "<Key><![CDATA[a]]></Key>")],
    ["carriage returns", good.replace("<Key>a</Key>", "<Key>a\r</Key>")],
    ["an error document", "<Error><Code>InternalError</Code></Error>"],
    ["trailing garbage", good + "<x/>"],
    ["not UTF-8", "\xff"],
  ];
  for (const [name, xml] of cases) {
    const bytes = name === "not UTF-8" ? new Uint8Array([0xff, 0xfe]) : encoder.encode(xml);
    assertEquals(parseListingXml(bytes), undefined, name);
  }
});
