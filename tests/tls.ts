/**
 * Certificates made by the tests with the `openssl` CLI: a CA of their own, a server
 * certificate it signs for 127.0.0.1, localhost, s3.localhost and *.s3.localhost (node's
 * check refuses a wildcard of two labels, *.localhost), and an unrelated second CA.
 * Nothing is installed anywhere: the files live in a temporary directory.
 */

/** The test's PKI, as PEM text and as files. */
export interface TestPki {
  dir: string;
  /** The CA that signed the server certificate. */
  caFile: string;
  caPem: string;
  /** A CA that signed nothing we serve. */
  otherCaFile: string;
  /** The server's certificate and key (PEM text). */
  cert: string;
  key: string;
}

/** True when the `openssl` CLI can be run. */
export function hasOpenssl(): boolean {
  try {
    return new Deno.Command("openssl", { args: ["version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

async function openssl(dir: string, args: string[]): Promise<void> {
  const output = await new Deno.Command("openssl", {
    args,
    cwd: dir,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!output.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(output.stderr)}`);
  }
}

/** Makes a CA, a server certificate it signs, and a second CA, in a new temporary directory. */
export async function makeTestPki(): Promise<TestPki> {
  const dir = await Deno.makeTempDir({ prefix: "spare-pki-" });
  const key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  const caExt = [
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ];
  for (const name of ["ca", "other-ca"]) {
    await openssl(dir, [
      "req",
      "-x509",
      ...key,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.pem`,
      "-days",
      "2",
      "-subj",
      `/CN=spare test ${name}`,
      ...caExt,
    ]);
  }
  await openssl(dir, [
    "req",
    ...key,
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
    "-subj",
    "/CN=localhost",
  ]);
  await Deno.writeTextFile(
    `${dir}/server.ext`,
    "subjectAltName=DNS:localhost,DNS:s3.localhost,DNS:*.s3.localhost,IP:127.0.0.1\n" +
      "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
  );
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "server.pem",
    "-days",
    "2",
    "-extfile",
    "server.ext",
  ]);
  return {
    dir,
    caFile: `${dir}/ca.pem`,
    caPem: await Deno.readTextFile(`${dir}/ca.pem`),
    otherCaFile: `${dir}/other-ca.pem`,
    cert: await Deno.readTextFile(`${dir}/server.pem`),
    key: await Deno.readTextFile(`${dir}/server.key`),
  };
}
